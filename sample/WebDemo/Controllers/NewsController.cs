using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.OutputCaching;

namespace WebDemo.Controllers;

/// <summary>An MVC controller cached through the named policy "news".</summary>
[ApiController]
[Route("news")]
public sealed class NewsController(DemoStats stats) : ControllerBase
{
    /// <summary>The front page of the news, slow to render.</summary>
    [HttpGet]
    [OutputCache(PolicyName = "news")]
    public async Task<ContentResult> Get(CancellationToken cancellationToken)
    {
        var generation = stats.BeginExecution("/news");
        await Task.Delay(100, cancellationToken);
        return Content($"news, generation {generation}, rendered at {DateTimeOffset.UtcNow:O}\n", "text/plain");
    }
}
