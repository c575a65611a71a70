namespace ChaosPS.Network;

/// <summary>
/// How an HTTP toxic acts on one request it hits: it writes what it wants done into the request's
/// <see cref="HttpRecord"/> (answer it here, hold the response head, slow the body, cut the body), and the proxy's
/// HTTP stages (Network/HttpMode.cs) carry that out. The stages ask the registry for each rule's behaviour; they know
/// no toxic by name.
/// </summary>
internal interface IHttpToxic
{
    /// <summary>An answering toxic is drawn before the others; the first one that hits answers the request itself and
    /// the upstream never sees it.</summary>
    bool Answers { get; }

    /// <summary>Whether the toxic still acts on a request that an answering toxic answered.</summary>
    bool ActsOnAnswered { get; }

    /// <summary>Writes this toxic's effect into the record of a request it hit (effects of several toxics combine here).</summary>
    void Apply(ToxicSpec settings, HttpHead head, HttpRecord record);
}
