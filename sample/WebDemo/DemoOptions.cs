namespace WebDemo;

/// <summary>Settings of the demo pages, from the "Demo" configuration section.</summary>
public sealed class DemoOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "Demo";

    /// <summary>How long the slow page takes to render, in milliseconds.</summary>
    public int GenerationDelayMs { get; set; } = 300;
}
