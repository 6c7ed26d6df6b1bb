using System.Diagnostics;

namespace MintCache.LoadTest;

/// <summary>
/// With <c>--redis-realtime</c>: runs a benchmark's redis-server at real-time priority (<c>chrt -a -f -p 10</c>), as if it had a host of its own, as
/// it has in a farm: on this 2-core machine the app instances and the load client otherwise preempt it mid-command, and
/// <c>INFO commandstats</c>, which counts wall time, charges a long script for the time it waited.
/// </summary>
internal static class RedisPriority
{
    public const string Description = "redis-server at real-time priority (`chrt -a -f -p 10`: never preempted by the apps, as on a host of its own)";

    /// <summary>Whether the priority was raised; false where <c>chrt</c> is missing or not permitted.</summary>
    public static async Task<bool> TryRaiseAsync(int processId)
    {
        try
        {
            using var chrt = Process.Start(new ProcessStartInfo("chrt", ["-a", "-f", "-p", "10", processId.ToString(System.Globalization.CultureInfo.InvariantCulture)])
            {
                RedirectStandardError = true,
                RedirectStandardOutput = true,
                UseShellExecute = false,
            });
            if (chrt is null)
            {
                return false;
            }

            await chrt.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
            return chrt.ExitCode == 0;
        }
#pragma warning disable CA1031 // A benchmark without chrt runs at normal priority and says so.
        catch (Exception)
#pragma warning restore CA1031
        {
            return false;
        }
    }
}
