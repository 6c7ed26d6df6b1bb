namespace MintCache.AspNetCore.Tests.Fixtures;

/// <summary>
/// The clear scenarios of the memory and Redis tests: <see cref="Pages"/> pages of <see cref="GatedPages"/> on one or
/// more hosts, and a storm of <see cref="Clients"/> clients that each ask every page once, spread over the hosts.
/// </summary>
internal static class ClearStorm
{
    public const int Pages = 100;
    public const int Clients = 64;

    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(45);

    /// <summary>Renders every page once (the gate open), page i on host i mod n: "{i} 1".</summary>
    public static async Task PrimeAsync(IReadOnlyList<HttpClient> hosts, GatedPages pages)
    {
        for (var id = 0; id < Pages; id++)
        {
            Assert.Equal($"{id} 1", await hosts[id % hosts.Count].GetStringAsync($"/pages/{id}"));
        }

        Assert.Equal(Pages, pages.TotalExecutions);
    }

    /// <summary>
    /// The storm, bounded: every client asks every page once, in an order of its own, each request on the next host.
    /// With the gate closed it completes only if no request waits on a render (the gate holds a render longer than
    /// the deadline).
    /// </summary>
    public static async Task<string[]> RunAsync(IReadOnlyList<HttpClient> hosts)
    {
        var clients = Enumerable.Range(0, Clients).Select(async client =>
        {
            await Task.Yield();
            var bodies = new string[Pages];
            for (var i = 0; i < Pages; i++)
            {
                var id = (i + (client * 37)) % Pages;
                bodies[i] = await hosts[(client + i) % hosts.Count].GetStringAsync($"/pages/{id}");
            }

            return bodies;
        });
        return (await Task.WhenAll(clients).WaitAsync(Deadline)).SelectMany(b => b).ToArray();
    }

    /// <summary>
    /// MarkAllStaleAsync during the storm: every request is served the old page while the gate holds the renders,
    /// every page starts exactly one regeneration, and once the gate opens every page is served its second render.
    /// </summary>
    public static async Task SoftClearAsync(IReadOnlyList<HttpClient> hosts, IMintCache cache, GatedPages pages)
    {
        await PrimeAsync(hosts, pages);
        pages.Close();

        var storm = RunAsync(hosts);
        await cache.MarkAllStaleAsync();
        var bodies = await storm;
        Assert.Equal(Pages * Clients, bodies.Length);
        Assert.All(bodies, b => Assert.EndsWith(" 1", b, StringComparison.Ordinal));

        // A second storm, after the call returned: still nobody waits, and every page has had its one regeneration started.
        bodies = await RunAsync(hosts);
        Assert.All(bodies, b => Assert.EndsWith(" 1", b, StringComparison.Ordinal));
        await Eventually.HoldsAsync(() => pages.Waiting == Pages, Deadline, $"one regeneration of each of the {Pages} pages is under way ({pages.Waiting})");
        for (var id = 0; id < Pages; id++)
        {
            Assert.Equal(2, pages.ExecutionsOf(id));
        }

        pages.Open();
        for (var id = 0; id < Pages; id++)
        {
            var page = id;
            await Eventually.HoldsAsync(
                async () => await hosts[page % hosts.Count].GetStringAsync($"/pages/{page}") == $"{page} 2",
                Deadline,
                $"page {page} is served its regeneration");
        }

        Assert.All(await RunAsync(hosts), b => Assert.EndsWith(" 2", b, StringComparison.Ordinal));
        for (var id = 0; id < Pages; id++)
        {
            Assert.Equal(2, pages.ExecutionsOf(id));
        }
    }

    /// <summary>ClearAsync: no page stored before it is served on any host; each page renders once again.</summary>
    public static async Task HardClearAsync(IReadOnlyList<HttpClient> hosts, IMintCache cache, GatedPages pages)
    {
        await PrimeAsync(hosts, pages);

        await cache.ClearAsync();

        for (var id = 0; id < Pages; id++)
        {
            // Asked of another host than the one that stored it, where there is one. That host follows the clear once
            // its message arrives, as near copies do (invariant 8's bound for a plain read decided on the host).
            var (host, path, expected) = (hosts[(id + 1) % hosts.Count], $"/pages/{id}", $"{id} 2");
            await Eventually.HoldsAsync(async () => await host.GetStringAsync(path) == expected, Deadline, $"page {id} is rendered anew");
        }

        Assert.All(await RunAsync(hosts), b => Assert.EndsWith(" 2", b, StringComparison.Ordinal));
        Assert.Equal(2 * Pages, pages.TotalExecutions);
    }
}
