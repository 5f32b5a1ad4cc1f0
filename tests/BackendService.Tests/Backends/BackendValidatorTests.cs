using System.Net;
using DirectorsConsole.BackendService.Infrastructure;
using DirectorsConsole.BackendService.Model;
using DirectorsConsole.ServiceDefaults.Backends;

namespace DirectorsConsole.BackendService.Tests.Backends;

public sealed class BackendValidatorTests
{
    private static BackendRequest Request(string? host = "127.0.0.1", string? id = "node1", int? port = null, int? maxJobs = null) =>
        new(id, null, host, port, null, null, maxJobs, null);

    [Theory]
    [InlineData("node1")]
    [InlineData("A")]
    [InlineData("beast-5090_gpu.0")]
    [InlineData("0123456789012345678901234567890123456789012345678901234567890123")]
    public void ValidIdsAreAccepted(string id)
    {
        // Act
        var validation = BackendValidator.Validate(Request(id: id), BackendSource.Api);

        // Assert
        Assert.True(validation.IsValid, string.Join("; ", validation.Errors.Select(e => e.Message)));
        Assert.Equal(id, validation.Backend!.Id);
    }

    [Theory]
    [InlineData("")]
    [InlineData("-node")]
    [InlineData(".node")]
    [InlineData("node 1")]
    [InlineData("node/1")]
    [InlineData("nöde")]
    [InlineData("01234567890123456789012345678901234567890123456789012345678901234")]
    public void InvalidIdsAreRejected(string id)
    {
        // Act
        var validation = BackendValidator.Validate(Request(id: id), BackendSource.Api);

        // Assert
        var error = Assert.Single(validation.Errors);
        Assert.Equal("id", error.Field);
    }

    [Theory]
    [InlineData("127.0.0.1", "127.0.0.1")]
    [InlineData("192.168.1.100", "192.168.1.100")]
    [InlineData("10.0.0.7", "10.0.0.7")]
    [InlineData("100.101.102.103", "100.101.102.103")]
    [InlineData("localhost", "localhost")]
    [InlineData("Beast.LAN.", "beast.lan")]
    [InlineData("render_node-2.studio.local", "render_node-2.studio.local")]
    [InlineData("::1", "::1")]
    [InlineData("[fd12:3456::10]", "fd12:3456::10")]
    [InlineData("2001:DB8::1", "2001:db8::1")]
    public void LanLoopbackAndNamedHostsAreAcceptedAndNormalised(string host, string expected)
    {
        // Act
        var validation = BackendValidator.Validate(Request(host), BackendSource.Api);

        // Assert
        Assert.True(validation.IsValid, string.Join("; ", validation.Errors.Select(e => e.Message)));
        Assert.Equal(expected, validation.Backend!.Host);
    }

    [Theory]
    [InlineData("169.254.169.254", "metadata")]
    [InlineData("169.254.10.20", "link-local")]
    [InlineData("fe80::1", "link-local")]
    [InlineData("fd00:ec2::254", "metadata")]
    [InlineData("::ffff:169.254.169.254", "metadata")]
    [InlineData("64:ff9b::a9fe:a9fe", "metadata")]
    [InlineData("100.100.100.200", "metadata")]
    [InlineData("metadata.google.internal", "metadata")]
    [InlineData("METADATA.GOOGLE.INTERNAL.", "metadata")]
    [InlineData("metadata.azure.com", "metadata")]
    [InlineData("instance-data.ec2.internal", "metadata")]
    [InlineData("0.0.0.0", "unspecified")]
    [InlineData("::", "unspecified")]
    [InlineData("224.0.0.1", "multicast")]
    [InlineData("ff02::1", "multicast")]
    [InlineData("255.255.255.255", "broadcast")]
    [InlineData("::a9fe:a9fe", "IPv4-compatible IPv6 form of 169.254.169.254, and it is a cloud metadata address")]
    [InlineData("::169.254.169.254", "IPv4-compatible IPv6 form of 169.254.169.254, and it is a cloud metadata address")]
    [InlineData("::ffff:0:a9fe:a9fe", "IPv4-translated IPv6 form of 169.254.169.254, and it is a cloud metadata address")]
    [InlineData("::ffff:0:169.254.1.1", "IPv4-translated IPv6 form of 169.254.1.1, and it is a link-local address")]
    [InlineData("[::ffff:a9fe:a9fe]", "IPv4-mapped IPv6 form of 169.254.169.254, and it is a cloud metadata address")]
    [InlineData("64:ff9b::169.254.169.254", "NAT64 IPv6 form of 169.254.169.254")]
    [InlineData("2002:a9fe:a9fe::1", "6to4 IPv6 form of 169.254.169.254")]
    [InlineData("2002:a9fe:0101::", "6to4 IPv6 form of 169.254.1.1, and it is a link-local address")]
    [InlineData("2001:0:4136:e378:8000:63bf:5601:5601", "Teredo IPv6 form of 169.254.169.254")]
    [InlineData("192.0.0.192", "Oracle Cloud")]
    [InlineData("100.100.100.200", "Alibaba Cloud")]
    [InlineData("[fd00:ec2::254]", "AWS IMDS")]
    [InlineData("169.254.169.254.", "cloud metadata address")]
    [InlineData("2852039166", "169.254.169.254 written in another notation, and it is a cloud metadata address")]
    [InlineData("0xa9fea9fe", "169.254.169.254 written in another notation, and it is a cloud metadata address")]
    [InlineData("0xA9.0xFE.0xA9.0xFE", "169.254.169.254 written in another notation")]
    [InlineData("0251.0376.0251.0376", "169.254.169.254 written in another notation")]
    [InlineData("0251.0376.0251.0376.", "169.254.169.254 written in another notation")]
    [InlineData("169.254.43518", "169.254.169.254 written in another notation")]
    [InlineData("169.16689662", "169.254.169.254 written in another notation")]
    [InlineData("[fe80::1%eth0]", "link-local address (fe80::/10)")]
    [InlineData("fe80::1%25eth0", "link-local address (fe80::/10)")]
    [InlineData("FEBF::1", "link-local address (fe80::/10)")]
    public void MetadataLinkLocalUnspecifiedAndMulticastHostsAreRejected(string host, string reason)
    {
        // Act
        var validation = BackendValidator.Validate(Request(host), BackendSource.Api);

        // Assert
        var error = Assert.Single(validation.Errors);
        Assert.Equal("host", error.Field);
        Assert.Contains(reason, error.Message);
    }

    [Theory]
    [InlineData("")]
    [InlineData("http://192.168.1.5")]
    [InlineData("192.168.1.5:8188")]
    [InlineData("host/path")]
    [InlineData("bad host")]
    [InlineData("-bad.example")]
    [InlineData("256.1.1.1")]
    [InlineData("127.1")]
    [InlineData("2130706433")]
    [InlineData("0x7f000001")]
    [InlineData("fd12::1%eth0")]
    [InlineData("::ffff:0:10.0.0.1:8188")]
    public void MalformedHostsAreRejected(string host)
    {
        // Act
        var validation = BackendValidator.Validate(Request(host), BackendSource.Api);

        // Assert
        Assert.Equal("host", Assert.Single(validation.Errors).Field);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    [InlineData(65536)]
    public void PortsOutsideTheTcpRangeAreRejected(int port)
    {
        // Act
        var validation = BackendValidator.Validate(Request(port: port), BackendSource.Api);

        // Assert
        Assert.Equal("port", Assert.Single(validation.Errors).Field);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(65)]
    public void MaxConcurrentJobsOutsideOneToSixtyFourIsRejected(int maxJobs)
    {
        // Act
        var validation = BackendValidator.Validate(Request(maxJobs: maxJobs), BackendSource.Api);

        // Assert
        Assert.Equal("max_concurrent_jobs", Assert.Single(validation.Errors).Field);
    }

    [Theory]
    [InlineData(-1, false)]
    [InlineData(0, true)]
    [InlineData(16, true)]
    [InlineData(17, false)]
    public void PrefetchFromZeroToSixteenIsAcceptedAndKept(int prefetch, bool valid)
    {
        // Act
        var validation = BackendValidator.Validate(Request() with { Prefetch = prefetch }, BackendSource.Api);

        // Assert
        if (valid)
        {
            Assert.True(validation.IsValid);
            Assert.Equal(prefetch, validation.Backend!.Prefetch);
        }
        else
        {
            Assert.Equal("prefetch", Assert.Single(validation.Errors).Field);
        }
    }

    [Fact]
    public void DefaultsFollowConfigYaml()
    {
        // Act
        var validation = BackendValidator.Validate(new BackendRequest(null, null, "192.168.1.100", null, null, null, null, null), BackendSource.Api);

        // Assert
        var backend = validation.Backend!;
        Assert.Equal("192.168.1.100_8188", backend.Id);
        Assert.Equal("192.168.1.100_8188", backend.Name);
        Assert.Equal(8188, backend.Port);
        Assert.True(backend.Enabled);
        Assert.Empty(backend.Capabilities);
        Assert.Empty(backend.Tags);
        Assert.Equal(1, backend.MaxConcurrentJobs);
        Assert.Null(backend.Prefetch); // JobService's Jobs:DefaultPrefetch
        Assert.Equal(new Uri("http://192.168.1.100:8188/"), backend.BaseAddress);
    }

    [Fact]
    public void AnIpv6BackendGetsAValidDefaultIdAndABracketedAddress()
    {
        // Act
        var backend = BackendValidator.Validate(new BackendRequest(null, null, "::1", 9000, null, null, null, null), BackendSource.Api).Backend!;

        // Assert
        Assert.Null(BackendValidator.IdError(backend.Id));
        Assert.Equal(new Uri("http://[::1]:9000/"), backend.BaseAddress);
    }

    [Fact]
    public void CapabilitiesAndTagsMustBeNonEmptyStringsAndAreDeduplicated()
    {
        // Act
        var valid = BackendValidator.Validate(new BackendRequest("n", null, "10.0.0.1", null, null, [" flux ", "FLUX", "sdxl"], null, ["a"]), BackendSource.Api);
        var invalid = BackendValidator.Validate(new BackendRequest("n", null, "10.0.0.1", null, null, ["flux", ""], null, [null]), BackendSource.Api);

        // Assert
        Assert.Equal(["flux", "sdxl"], valid.Backend!.Capabilities);
        Assert.Equal(["capabilities", "tags"], invalid.Errors.Select(e => e.Field));
    }

    [Fact]
    public void ThePutBodyCannotRenameTheBackend()
    {
        // Act
        var validation = BackendValidator.Validate(Request(id: "other"), BackendSource.Api, routeId: "node1");

        // Assert
        Assert.Contains("cannot be changed", Assert.Single(validation.Errors).Message);
    }

    [Theory]
    [InlineData("169.254.169.254")]
    [InlineData("169.254.1.1")]
    [InlineData("fe80::abcd")]
    [InlineData("::ffff:169.254.169.254")]
    [InlineData("0.0.0.0")]
    [InlineData("239.1.2.3")]
    [InlineData("::a9fe:a9fe")]
    [InlineData("::ffff:0:a9fe:a9fe")]
    [InlineData("64:ff9b::a9fe:1")]
    [InlineData("2002:a9fe:a9fe::")]
    [InlineData("192.0.0.192")]
    [InlineData("100.100.100.200")]
    [InlineData("fd00:ec2::254")]
    [InlineData("fe80::1%2")]
    public void TheConnectionPolicyRefusesForbiddenResolvedAddresses(string address)
    {
        // Act
        var reason = BackendHostPolicy.ForbiddenReason(IPAddress.Parse(address));

        // Assert
        Assert.NotNull(reason);
    }

    [Theory]
    [InlineData("127.0.0.1")]
    [InlineData("::1")]
    [InlineData("192.168.0.20")]
    [InlineData("172.16.5.4")]
    [InlineData("fd7a:115c:a1e0::1")]
    [InlineData("::ffff:192.168.1.10")]
    [InlineData("2002:c0a8:010a::1")]
    [InlineData("192.0.0.193")]
    [InlineData("100.100.100.201")]
    public void TheConnectionPolicyAllowsLoopbackAndLanAddresses(string address)
    {
        // Act
        var reason = BackendHostPolicy.ForbiddenReason(IPAddress.Parse(address));

        // Assert
        Assert.Null(reason);
    }
}
