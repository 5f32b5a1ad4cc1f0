using DirectorsConsole.ServiceDefaults.Access;
using Microsoft.Extensions.Options;

namespace DirectorsConsole.Gateway.Access;

/// <summary>The gateway reads the tokens that <c>token_env</c> names: it refuses to start when one is not set,
/// rather than refusing that client's every request later.</summary>
public sealed class ClientTokenVariablesValidator(Func<string, string?> environment) : IValidateOptions<AccessOptions>
{
    public ValidateOptionsResult Validate(string? name, AccessOptions options)
    {
        var problems = AccessOptionsValidator.TokenVariableProblems(options, environment);
        return problems.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(problems);
    }
}
