using System.Diagnostics;
using static MintCache.AspNetCore.MintCacheDiagnostics;

namespace MintCache.AspNetCore.Diagnostics;

/// <summary>
/// MintCache's activities. Started only when a listener samples them; tags are the same low-cardinality set as the
/// metrics (traces could carry the key, but keys hold paths and query strings, so they stay out by default).
/// </summary>
internal static class Activities
{
    public static Activity? StartBackendCall(string backend, string operation, ActivityKind kind)
    {
        if (!MintCacheDiagnostics.ActivitySource.HasListeners())
        {
            return null;
        }

        var activity = MintCacheDiagnostics.ActivitySource.StartActivity(BackendActivityName(operation), kind);
        activity?.SetTag(BackendTag, backend);
        activity?.SetTag(OperationTag, operation);
        return activity;
    }

    /// <summary>
    /// A background regeneration: the root of its own trace, linked to the request that caused it (<paramref name="cause"/>),
    /// which it is not part of (the OpenTelemetry convention for work a request starts but does not wait for).
    /// </summary>
    public static Activity? StartRegeneration(string method, string path, ActivityContext cause)
    {
        if (!MintCacheDiagnostics.ActivitySource.HasListeners())
        {
            return null;
        }

        // A regeneration reproduces a cached page's request, whose path is a route, not a user's secret. Given at the
        // start, so that samplers see them.
        var tags = new ActivityTagsCollection { ["http.request.method"] = method, ["url.path"] = path };
        ActivityLink[]? links = cause == default ? null : [new ActivityLink(cause)];

        // With no parent given, StartActivity takes Activity.Current as the parent: none here, on purpose.
        var current = Activity.Current;
        Activity.Current = null;
        try
        {
            return MintCacheDiagnostics.ActivitySource.StartActivity(RegenerateActivity, ActivityKind.Internal, parentContext: default, tags, links);
        }
        finally
        {
            Activity.Current ??= current;
        }
    }

    public static void Failed(Activity? activity, Exception exception)
    {
        if (activity is null)
        {
            return;
        }

        activity.SetStatus(ActivityStatusCode.Error, exception.Message);
        activity.SetTag("error.type", exception.GetType().FullName);
        activity.AddException(exception);
    }

    private static string BackendActivityName(string operation) => operation switch
    {
        Tags.OperationLookup => BackendLookupActivity,
        Tags.OperationStore => BackendStoreActivity,
        Tags.OperationRelease => BackendReleaseActivity,
        _ => BackendEvictActivity,
    };
}
