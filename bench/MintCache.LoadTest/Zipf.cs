namespace MintCache.LoadTest;

/// <summary>
/// Zipf popularity over ids 1..n with exponent s: id k is drawn with probability proportional to 1 / k^s, by binary
/// search in the cumulative distribution (built once, 0.8 MB for 100,000 ids).
/// </summary>
internal sealed class Zipf
{
    private readonly double[] _cumulative;

    public Zipf(int n, double s)
    {
        _cumulative = new double[n];
        var sum = 0.0;
        for (var k = 1; k <= n; k++)
        {
            sum += 1.0 / Math.Pow(k, s);
            _cumulative[k - 1] = sum;
        }

        for (var i = 0; i < n; i++)
        {
            _cumulative[i] /= sum;
        }
    }

    public int Next(Random random)
    {
        var index = Array.BinarySearch(_cumulative, random.NextDouble());
        return (index < 0 ? ~index : index) + 1;
    }
}
