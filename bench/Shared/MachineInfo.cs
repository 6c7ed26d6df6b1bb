using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;

namespace MintCache.Bench.Shared;

/// <summary>Describes the machine a result came from, and finds where results are kept.</summary>
internal static class MachineInfo
{
    public static string Describe()
    {
        var text = new StringBuilder();
        text.AppendLine("## Machine");
        text.AppendLine();
        text.AppendLine($"- nproc: {Environment.ProcessorCount}");
        text.AppendLine($"- CPU: {CpuModel()}");
        text.AppendLine($"- memory: {MemoryTotal()}");
        text.AppendLine($"- OS: {RuntimeInformation.OSDescription} ({RuntimeInformation.OSArchitecture})");
        text.AppendLine($"- runtime: {RuntimeInformation.FrameworkDescription}, server GC: {System.Runtime.GCSettings.IsServerGC}");
        text.AppendLine();
        text.AppendLine("`dotnet --info` (summary):");
        text.AppendLine();
        text.AppendLine("```");
        text.AppendLine(DotnetInfo());
        text.AppendLine("```");
        return text.ToString();
    }

    /// <summary>The 1, 5 and 15 minute load averages: other work on the machine shows here.</summary>
    public static string LoadAverage()
    {
        try
        {
            var fields = File.ReadAllText("/proc/loadavg").Split(' ');
            return $"{fields[0]} / {fields[1]} / {fields[2]}";
        }
        catch (IOException)
        {
            return "unknown";
        }
    }

    /// <summary>
    /// Waits, at most <paramref name="limit"/>, for the 1-minute load average to fall under <paramref name="threshold"/>
    /// (other builds and tests on a shared machine skew every figure), and says how it went.
    /// </summary>
    public static string WaitForQuiet(double threshold, TimeSpan limit)
    {
        var waited = Stopwatch.StartNew();
        while (true)
        {
            var now = LoadAverage();
            if (!double.TryParse(now.Split(' ')[0], System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var oneMinute)
                || oneMinute < threshold)
            {
                return $"load average {now} after waiting {waited.Elapsed.TotalSeconds:0} s";
            }

            if (waited.Elapsed >= limit)
            {
                return $"load average still {now} after waiting {waited.Elapsed.TotalSeconds:0} s: the machine was busy with other work";
            }

            Thread.Sleep(5000);
        }
    }

    /// <summary>bench/results under the repository root (the folder holding MintCache.sln).</summary>
    public static string ResultsFolder()
    {
        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "MintCache.sln")))
                {
                    var results = Path.Combine(dir.FullName, "bench", "results");
                    Directory.CreateDirectory(results);
                    return results;
                }
            }
        }

        return Directory.CreateDirectory("results").FullName;
    }

    private static string CpuModel()
    {
        try
        {
            var line = File.ReadLines("/proc/cpuinfo").FirstOrDefault(static l => l.StartsWith("model name", StringComparison.Ordinal));
            return line is null ? "unknown" : line[(line.IndexOf(':', StringComparison.Ordinal) + 1)..].Trim();
        }
        catch (IOException)
        {
            return "unknown";
        }
    }

    private static string MemoryTotal()
    {
        try
        {
            var line = File.ReadLines("/proc/meminfo").FirstOrDefault(static l => l.StartsWith("MemTotal", StringComparison.Ordinal));
            return line?[(line.IndexOf(':', StringComparison.Ordinal) + 1)..].Trim() ?? "unknown";
        }
        catch (IOException)
        {
            return "unknown";
        }
    }

    private static string DotnetInfo()
    {
        try
        {
            using var process = Process.Start(new ProcessStartInfo("dotnet", "--info") { RedirectStandardOutput = true, UseShellExecute = false });
            var all = process?.StandardOutput.ReadToEnd() ?? string.Empty;
            process?.WaitForExit();

            // The SDK, host and runtime lines; not the list of every installed SDK.
            var keep = all.Split('\n')
                .Select(static l => l.TrimEnd())
                .Where(static l => l.Contains("Version:", StringComparison.Ordinal)
                    || l.Contains("Commit:", StringComparison.Ordinal)
                    || l.Contains("OS Name", StringComparison.Ordinal)
                    || l.Contains("OS Version", StringComparison.Ordinal)
                    || l.Contains("RID:", StringComparison.Ordinal)
                    || l.Contains("Architecture:", StringComparison.Ordinal)
                    || l.Contains("Microsoft.AspNetCore.App", StringComparison.Ordinal)
                    || l.Contains("Microsoft.NETCore.App", StringComparison.Ordinal));
            return string.Join('\n', keep.Distinct());
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return "dotnet --info unavailable";
        }
    }
}
