using System.Net;
using DirectorsConsole.JobService.Webhooks;

namespace DirectorsConsole.JobService.Tests.Webhooks;

public sealed class WebhookAddressPolicyTests
{
    [Theory]
    [InlineData("169.254.169.254", false)]
    [InlineData("169.254.1.1", false)]
    [InlineData("fe80::1", false)]
    [InlineData("fd00:ec2::254", false)]
    [InlineData("0.0.0.0", false)]
    [InlineData("::", false)]
    [InlineData("224.0.0.251", false)]
    [InlineData("ff02::1", false)]
    [InlineData("255.255.255.255", false)]
    [InlineData("::ffff:169.254.169.254", false)]
    [InlineData("127.0.0.1", false)]
    [InlineData("::1", false)]
    [InlineData("::ffff:127.0.0.1", false)]
    [InlineData("192.168.1.20", true)]
    [InlineData("10.0.0.5", true)]
    [InlineData("172.16.4.4", true)]
    [InlineData("fd12:3456::1", true)]
    [InlineData("93.184.216.34", true)]
    [InlineData("2001:db8::1", true)]
    public void AnAddressIsAllowedOnlyOutsideLinkLocalMetadataUnspecifiedMulticastAndLoopback(string address, bool allowed) =>
        Assert.Equal(allowed, WebhookAddressPolicy.Refusal(IPAddress.Parse(address), allowLoopback: false) is null);

    [Theory]
    [InlineData("127.0.0.1")]
    [InlineData("::1")]
    public void LoopbackIsAllowedOnlyWhenConfigured(string address) =>
        Assert.Null(WebhookAddressPolicy.Refusal(IPAddress.Parse(address), allowLoopback: true));

    [Fact]
    public async Task TheHandlerRefusesANameThatResolvesToLoopbackBeforeConnecting()
    {
        // Arrange
        await using var receiver = await WebhookReceiver.StartAsync(TestContext.Current.CancellationToken);
        using var client = new HttpClient(WebhookAddressPolicy.CreateHandler(allowLoopback: false));

        // Act
        var error = await Assert.ThrowsAnyAsync<HttpRequestException>(() =>
            client.PostAsync($"http://localhost:{receiver.Port}/hook", new StringContent("{}"), TestContext.Current.CancellationToken));

        // Assert
        Assert.True(error is WebhookAddressRefusedException || error.InnerException is WebhookAddressRefusedException, error.ToString());
        Assert.Empty(receiver.Requests);
    }

    [Fact]
    public async Task TheHandlerFollowsNoRedirect()
    {
        // Arrange
        await using var receiver = await WebhookReceiver.StartAsync(TestContext.Current.CancellationToken);
        receiver.RedirectTo = receiver.Url("/elsewhere");
        using var client = new HttpClient(WebhookAddressPolicy.CreateHandler(allowLoopback: true));

        // Act
        using var response = await client.PostAsync(receiver.Url("/hook"), new StringContent("{}"), TestContext.Current.CancellationToken);

        // Assert
        Assert.Equal(HttpStatusCode.Found, response.StatusCode);
        Assert.Equal("/hook", Assert.Single(receiver.Requests).Path);
    }
}
