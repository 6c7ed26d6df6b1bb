using System.Text;
using MintCache.AspNetCore.Tests.Fixtures;

namespace MintCache.AspNetCore.Tests.Store;

public sealed class StoreLifecycleTests
{
    private static readonly byte[] PageV1 = Encoding.UTF8.GetBytes("v1");

    [Fact]
    public async Task Get_FreshEntry_ReturnsStoredPage()
    {
        using var harness = new StoreHarness();
        await harness.Store.SetAsync("k", PageV1, [], TimeSpan.FromSeconds(10), default);

        Assert.Equal(PageV1, await harness.Store.GetAsync("k", default));
    }
}
