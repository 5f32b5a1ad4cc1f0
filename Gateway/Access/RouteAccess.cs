using DirectorsConsole.ServiceDefaults.Access;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;

namespace DirectorsConsole.Gateway.Access;

/// <summary>The gateway's one authorization requirement: the caller's role reaches what <see cref="AccessRules"/>
/// asks for the request's method and path.</summary>
public sealed class RouteAccessRequirement : IAuthorizationRequirement
{
    public static AuthorizationPolicy Policy { get; } = new AuthorizationPolicyBuilder().AddRequirements(new RouteAccessRequirement()).Build();
}

/// <summary>
/// Decides <see cref="RouteAccessRequirement"/>: a render agents' route passes a worker token only; a public route passes whoever calls; otherwise a caller with a
/// client's token acts with its role, one without a token with the anonymous role, and one whose token is not
/// valid with none (a wrong token never falls back to the anonymous role).
/// </summary>
public sealed class RouteAccessHandler(ClientDirectory clients) : AuthorizationHandler<RouteAccessRequirement>
{
    protected override async Task HandleRequirementAsync(AuthorizationHandlerContext context, RouteAccessRequirement requirement)
    {
        if (context.Resource is not HttpContext httpContext)
        {
            return;
        }

        if (AccessRules.RequiresWorker(httpContext.Request.Method, httpContext.Request.Path))
        {
            var worker = await httpContext.AuthenticateAsync(WorkerTokenAuthenticationHandler.SchemeName);
            if (worker.Succeeded && WorkerDirectory.WorkerIdOf(worker.Principal) is not null)
            {
                context.Succeed(requirement);
            }

            return;
        }

        var required = AccessRules.RequiredRole(httpContext.Request.Method, httpContext.Request.Path);
        if (required == ClientRole.None)
        {
            context.Succeed(requirement);
            return;
        }

        var authentication = await httpContext.AuthenticateAsync(ClientTokenAuthenticationHandler.SchemeName);
        if (authentication.Failure is not null)
        {
            return;
        }

        if (clients.CallerOf(context.User).Role >= required)
        {
            context.Succeed(requirement);
        }
    }
}
