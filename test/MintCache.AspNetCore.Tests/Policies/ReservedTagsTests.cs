using System.Text;
using Microsoft.AspNetCore.OutputCaching;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using MintCache.AspNetCore.Diagnostics;
using MintCache.AspNetCore.Entries;
using MintCache.AspNetCore.Policies;
using MintCache.AspNetCore.Tests.Fixtures;

namespace MintCache.AspNetCore.Tests.Policies;

/// <summary>Directives are range-checked where the policy is built; a bad one at request time is ignored, never thrown.</summary>
public sealed class ReservedTagsTests
{
    public static TheoryData<string> Malformed => new()
    {
        "\u001Fmint:grace=abc",
        "\u001Fmint:grace=99999999999",
        "\u001Fmint:grace=0",
        "\u001Fmint:grace=-5",
        "\u001Fmint:grace=",
        "\u001Fmint:refresh=sideways",
        "\u001Fmint:colour=blue",
    };

    [Theory]
    [MemberData(nameof(Malformed))]
    public void Check_Malformed_SaysWhy(string tag) => Assert.NotNull(ReservedTags.Check(tag));

    [Fact]
    public void Check_WhatTheBuilderWrites_Valid()
    {
        Assert.Null(ReservedTags.Check(ReservedTags.ForGrace(TimeSpan.FromMilliseconds(1))));
        Assert.Null(ReservedTags.Check(ReservedTags.ForGrace(EntryLifetime.MaxGrace)));
        Assert.Null(ReservedTags.Check(ReservedTags.ForRefresh(RefreshMode.Background)));
        Assert.Null(ReservedTags.Check(ReservedTags.ForRefresh(RefreshMode.Foreground)));
        Assert.Null(ReservedTags.Check("news"));
    }

    [Theory]
    [MemberData(nameof(Malformed))]
    public void Split_Malformed_StrippedIgnoredAndLoggedAtDebug(string tag)
    {
        var logger = new FakeLogger();

        var userTags = ReservedTags.Split(["news", tag], logger, out var directives);

        Assert.Equal(["news"], userTags);
        Assert.Equal(default, directives);
        var record = Assert.Single(logger.Collector.GetSnapshot());
        Assert.Equal(Log.IdReservedTagIgnored, record.Id.Id);
        Assert.Equal(LogLevel.Debug, record.Level);
    }

    [Fact]
    public void Split_Valid_Applied()
    {
        var userTags = ReservedTags.Split(
            [ReservedTags.ForGrace(TimeSpan.FromMinutes(1)), "news", ReservedTags.ForRefresh(RefreshMode.Background)], logger: null, out var directives);

        Assert.Equal(["news"], userTags);
        Assert.Equal(TimeSpan.FromMinutes(1), directives.Grace);
        Assert.Equal(RefreshMode.Background, directives.Refresh);
    }

    [Fact]
    public async Task Store_GraceBeyondTheFormat_IgnoredForTheOptionsGrace()
    {
        var fresh = TimeSpan.FromSeconds(10);
        using var harness = new StoreHarness();
        var page = Encoding.UTF8.GetBytes("v1");

        // 99999999999 ms does not fit the entry format: not 30 days (clamped), but the options' grace.
        await harness.Store.SetAsync("k", page, ["\u001Fmint:grace=99999999999"], fresh, default);
        harness.Time.Advance(fresh + MintCacheConstants.DefaultGrace);

        // Expired, not stale: a stale page's first lookup would also answer null (it wins the refresh claim).
        Assert.Equal(EntryState.Missing, harness.Backend.Lookup("k", TimeSpan.FromSeconds(10)).State);
        Assert.Null(await harness.Store.GetAsync("k", default));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(31)]
    public void Grace_OutsideTheFormat_RejectedWhenThePolicyIsBuilt(int days)
    {
        var options = new OutputCacheOptions();

        var error = Assert.Throws<ArgumentOutOfRangeException>(() => options.AddPolicy("news", p => p.Grace(TimeSpan.FromDays(days))));

        Assert.Equal("grace", error.ParamName);
    }

    [Fact]
    public void Grace_AtTheFormatsBound_Accepted()
        => new OutputCacheOptions().AddPolicy("news", p => p.Grace(EntryLifetime.MaxGrace));
}
