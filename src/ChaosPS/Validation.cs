using System.Collections;
using System.Management.Automation;

namespace ChaosPS.Commands;

// Parameter validation attributes: PowerShell runs them while binding, so a bad value is refused (error id
// ParameterArgumentValidationError, naming the parameter) before the cmdlet starts, -WhatIf or not. The rules
// themselves live in the engine (InputRules) where the unit tests check them.

/// <summary>Base: validates each element of a collection (nulls are left to ValidateNotNull).</summary>
public abstract class ValidateEachAttribute : ValidateArgumentsAttribute
{
    protected override void Validate(object arguments, EngineIntrinsics engineIntrinsics)
    {
        var value = arguments is PSObject pso ? pso.BaseObject : arguments;
        if (value is IEnumerable e and not string)
        {
            foreach (var item in e) Check(item is PSObject p ? p.BaseObject : item);
        }
        else Check(value);
    }

    private void Check(object? value)
    {
        if (value is null) return;
        var error = ValidationBridge.Run(() => CheckOne(value));
        if (error is not null) throw new ValidationMetadataException(error);
    }

    /// <summary>Throws (a ChaosException from InputRules) when the value is bad.</summary>
    protected abstract void CheckOne(object value);
}

/// <summary>
/// Not null, not empty, not only white space; for arrays: not empty, and no null, empty or blank element. With
/// AllowNull, $null itself passes: for optional parameters bound by property name from piped objects whose property
/// may be null (null means "not given").
/// </summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Field)]
public sealed class ValidateNotBlankAttribute : ValidateArgumentsAttribute
{
    public bool AllowNull { get; set; }

    protected override void Validate(object arguments, EngineIntrinsics engineIntrinsics)
    {
        var value = arguments is PSObject pso ? pso.BaseObject : arguments;
        if (value is null)
        {
            if (AllowNull) return;
            throw new ValidationMetadataException("The argument is null; give a value.");
        }
        if (value is string s) { Check(s); return; }
        if (value is IEnumerable e)
        {
            int n = 0;
            foreach (var item in e)
            {
                n++;
                var v = item is PSObject p ? p.BaseObject : item;
                if (v is null) throw new ValidationMetadataException("The collection has a null element; give only non-empty values.");
                if (v is string t) Check(t);
            }
            if (n == 0) throw new ValidationMetadataException("The collection is empty; give at least one value, or leave the parameter out.");
        }
    }

    private static void Check(string s)
    {
        if (string.IsNullOrWhiteSpace(s)) throw new ValidationMetadataException("The argument is empty or only white space; give a value, or leave the parameter out.");
    }
}

/// <summary>A duration more than zero (or zero with AllowZero) and no longer than the longest timer, about 24.8 days.</summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Field)]
public sealed class ValidateDurationAttribute : ValidateEachAttribute
{
    public bool AllowZero { get; set; }
    protected override void CheckOne(object value)
    {
        if (value is TimeSpan t) ValidationBridge.Duration(t, AllowZero);
    }
}

/// <summary>An absolute http/https URI; with LoopbackOnly, one on this machine (127.0.0.0/8, ::1, localhost).</summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Field)]
public sealed class ValidateHttpUriAttribute : ValidateEachAttribute
{
    public bool LoopbackOnly { get; set; }
    protected override void CheckOne(object value) => ValidationBridge.HttpUri(value, LoopbackOnly);
}

/// <summary>An HTTP method token (GET, POST, PATCH, a custom token...), no spaces or separators.</summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Field)]
public sealed class ValidateHttpMethodAttribute : ValidateEachAttribute
{
    protected override void CheckOne(object value) => ValidationBridge.HttpMethod(value.ToString());
}

/// <summary>A name ChaosPS stores: 1 to 200 characters, no '/', '\', control characters or surrounding blanks.</summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Field)]
public sealed class ValidateChaosNameAttribute : ValidateEachAttribute
{
    /// <summary>For lookups: the name may be a wildcard pattern (it must compile).</summary>
    public bool AllowWildcard { get; set; }
    protected override void CheckOne(object value)
    {
        var s = value.ToString();
        ValidationBridge.Name(s, AllowWildcard);
        if (AllowWildcard && s is not null) ValidationBridge.Wildcard(s, ValidateWildcardAttribute.IsValidWildcard);
    }
}

/// <summary>host:port with a port from 1 to 65535 (AllowPortZero: 0 = any free port); IPv6 in brackets.</summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Field)]
public sealed class ValidateEndpointAttribute : ValidateEachAttribute
{
    public bool AllowPortZero { get; set; }
    protected override void CheckOne(object value) => ValidationBridge.Endpoint(value.ToString(), AllowPortZero);
}

/// <summary>A PowerShell wildcard pattern that compiles ('[z-a]' does not).</summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Field)]
public sealed class ValidateWildcardAttribute : ValidateEachAttribute
{
    protected override void CheckOne(object value)
    {
        var s = value.ToString() ?? "";
        ValidationBridge.Wildcard(s, IsValidWildcard);
    }

    internal static bool IsValidWildcard(string pattern)
    {
        try { _ = WildcardPattern.Get(pattern, WildcardOptions.IgnoreCase).IsMatch(""); return true; }
        catch (WildcardPatternException) { return false; }
    }
}

/// <summary>A Docker endpoint: unix:///path, npipe://..., tcp://host:port or http(s)://host:port.</summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Field)]
public sealed class ValidateDockerEndpointAttribute : ValidateEachAttribute
{
    protected override void CheckOne(object value) => InputRulesBridge.DockerEndpoint(value.ToString());
}

/// <summary>A container name or id as Docker accepts them.</summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Field)]
public sealed class ValidateContainerAttribute : ValidateEachAttribute
{
    protected override void CheckOne(object value) => InputRulesBridge.Container(value.ToString());
}

/// <summary>A path: not blank, at most 4096 characters, no NUL.</summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Field)]
public sealed class ValidatePathTextAttribute : ValidateEachAttribute
{
    protected override void CheckOne(object value) => InputRulesBridge.Path(value.ToString());
}

internal static class InputRulesBridge
{
    public static void DockerEndpoint(string? s) => InputRules.DockerEndpoint(s);
    public static void Container(string? s) => InputRules.Container(s);
    public static void Path(string? s) => InputRules.Path(s);
}

// Keeps engine types out of the public attributes' signatures (see README: the load-context rule).
internal static class ValidationBridge
{
    public static string? Run(Action check)
    {
        try { check(); return null; }
        catch (ChaosException e) { return e.Message; }
    }
    public static void Duration(TimeSpan t, bool allowZero) => InputRules.Duration(t, null, allowZero);
    public static void HttpUri(object value, bool loopbackOnly)
    {
        if (value is Uri u) InputRules.HttpUri(u, "Uri", loopbackOnly);
        else InputRules.HttpUri(value.ToString(), "Uri", loopbackOnly);
    }
    public static void HttpMethod(string? m) => InputRules.HttpMethod(m);
    public static void Name(string? n, bool allowWildcard) => InputRules.Name(n, "Name", allowWildcard);
    public static void Endpoint(string? e, bool allowPortZero) => InputRules.Endpoint(e, "Endpoint", allowPortZero);
    public static void Wildcard(string p, Func<string, bool> isValid) => InputRules.Wildcard(p, "Name", isValid);
}
