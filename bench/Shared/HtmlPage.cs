using System.Globalization;
using System.Text;

namespace MintCache.Bench.Shared;

/// <summary>
/// A realistic product page of about <c>size</c> bytes for item <c>id</c>: a shared head, navigation and footer, and a
/// body of its own (title, prose from a vocabulary, a specification table, related links), the same bytes for the same
/// id on every instance. Compressibility is the question compression answers, so neither random nor repeated bytes.
/// </summary>
internal static class HtmlPage
{
    private static readonly string[] Words =
    [
        "the", "of", "and", "to", "in", "for", "with", "on", "this", "that", "is", "are", "from", "by", "your", "our",
        "design", "steel", "cotton", "wireless", "battery", "compact", "light", "durable", "water", "resistant",
        "kitchen", "garden", "outdoor", "travel", "office", "premium", "classic", "modern", "ergonomic", "portable",
        "warranty", "delivery", "returns", "size", "colour", "black", "white", "grey", "blue", "green", "red", "natural",
        "capacity", "weight", "height", "width", "depth", "material", "finish", "handle", "cover", "set", "pack",
        "includes", "features", "perfect", "everyday", "use", "easy", "clean", "dishwasher", "safe", "soft", "grip",
        "high", "quality", "made", "recycled", "sustainable", "energy", "efficient", "smart", "control", "app",
        "compatible", "adjustable", "stand", "storage", "fits", "most", "standard", "customers", "rated", "reviews",
        "stars", "price", "offer", "save", "today", "stock", "available", "shipping", "free", "over", "orders",
        "minutes", "hours", "days", "long", "lasting", "performance", "noise", "quiet", "speed", "power", "mode",
    ];

    private static readonly string Head = """
        <!DOCTYPE html>
        <html lang="en">
        <head>
          <meta charset="utf-8">
          <meta name="viewport" content="width=device-width, initial-scale=1">
          <link rel="stylesheet" href="/assets/site.5f3a9c1e.css">
          <link rel="preload" href="/assets/fonts/inter-var.woff2" as="font" type="font/woff2" crossorigin>
          <script defer src="/assets/runtime.8d21b7a4.js"></script>
          <script defer src="/assets/catalog.c0ffee12.js"></script>
        """;

    private static readonly string Navigation = BuildNavigation();

    private static readonly string Footer = """
          <footer class="site-footer">
            <div class="container footer-grid">
              <section><h4>Customer service</h4><ul class="footer-links"><li><a href="/help/contact">Contact us</a></li><li><a href="/help/delivery">Delivery</a></li><li><a href="/help/returns">Returns and refunds</a></li><li><a href="/help/warranty">Warranty</a></li></ul></section>
              <section><h4>About</h4><ul class="footer-links"><li><a href="/about">Our story</a></li><li><a href="/careers">Careers</a></li><li><a href="/press">Press</a></li><li><a href="/sustainability">Sustainability</a></li></ul></section>
              <section><h4>Newsletter</h4><form class="newsletter" action="/newsletter" method="post"><input type="email" name="email" placeholder="Your e-mail address" required><button type="submit" class="btn btn-primary">Subscribe</button></form></section>
            </div>
            <p class="legal">&copy; 2026 Example Store Ltd. All rights reserved. Prices include VAT.</p>
          </footer>
        """;

    private const string End = "</body>\n</html>\n";

    public static byte[] Create(int id, int size)
    {
        var random = new Random(id);
        var html = new StringBuilder(size + 1024);
        html.Append(Head);
        html.Append(CultureInfo.InvariantCulture, $"  <title>{Sentence(random, 4)} | Example Store</title>\n");
        html.Append(CultureInfo.InvariantCulture, $"  <meta name=\"description\" content=\"{Sentence(random, 18)}\">\n");
        html.Append(CultureInfo.InvariantCulture, $"  <link rel=\"canonical\" href=\"https://shop.example/item/{id}\">\n</head>\n<body class=\"page-product\">\n");
        html.Append(Navigation);
        html.Append(CultureInfo.InvariantCulture, $"  <main class=\"container product\" data-item-id=\"{id}\">\n");
        html.Append(CultureInfo.InvariantCulture, $"    <nav class=\"breadcrumbs\"><a href=\"/\">Home</a> &rsaquo; <a href=\"/c/{id % 40}\">{Sentence(random, 2)}</a> &rsaquo; <span>{Sentence(random, 3)}</span></nav>\n");
        html.Append(CultureInfo.InvariantCulture, $"    <h1 class=\"product-title\">{Sentence(random, 5)}</h1>\n");
        html.Append(CultureInfo.InvariantCulture, $"    <div class=\"product-price\"><span class=\"amount\">&euro;{random.Next(5, 900)}.{random.Next(0, 99):00}</span> <span class=\"stock in-stock\">In stock</span></div>\n");
        html.Append(CultureInfo.InvariantCulture, $"    <img class=\"product-image\" src=\"/images/items/{id}/main-{random.Next(100000, 999999)}.jpg\" alt=\"{Sentence(random, 4)}\" width=\"640\" height=\"640\" loading=\"eager\">\n");
        html.Append("    <section class=\"product-description\">\n");
        for (var p = 0; p < 4; p++)
        {
            html.Append("      <p>").Append(Sentence(random, random.Next(30, 60))).Append(".</p>\n");
        }

        html.Append("    </section>\n    <table class=\"specs\">\n");
        foreach (var name in new[] { "Material", "Colour", "Weight", "Dimensions", "Capacity", "Warranty", "Model" })
        {
            html.Append(CultureInfo.InvariantCulture, $"      <tr><th scope=\"row\">{name}</th><td>{Sentence(random, 2)} {random.Next(1, 500)}</td></tr>\n");
        }

        html.Append("    </table>\n    <section class=\"related\"><h2>Customers also viewed</h2><ul class=\"product-grid\">\n");
        while (html.Length < size - Footer.Length - End.Length - 300)
        {
            var other = random.Next(1, 100_000);
            html.Append(CultureInfo.InvariantCulture, $"      <li class=\"product-card\"><a href=\"/item/{other}\"><img src=\"/images/items/{other}/thumb.jpg\" alt=\"\" width=\"160\" height=\"160\" loading=\"lazy\"><span class=\"name\">{Sentence(random, 4)}</span><span class=\"price\">&euro;{random.Next(5, 900)}.{random.Next(0, 99):00}</span></a></li>\n");
        }

        html.Append("    </ul></section>\n  </main>\n");
        html.Append(Footer);
        html.Append(End);
        var bytes = Encoding.UTF8.GetBytes(html.ToString());
        return bytes;
    }

    private static string Sentence(Random random, int words)
    {
        var text = new StringBuilder(words * 7);
        for (var i = 0; i < words; i++)
        {
            var word = Words[random.Next(Words.Length)];
            text.Append(i == 0 ? char.ToUpperInvariant(word[0]) + word[1..] : " " + word);
        }

        return text.ToString();
    }

    private static string BuildNavigation()
    {
        var nav = new StringBuilder("  <header class=\"site-header\">\n    <a class=\"logo\" href=\"/\"><img src=\"/assets/logo.svg\" alt=\"Example Store\" width=\"120\" height=\"32\"></a>\n    <nav class=\"main-nav\" aria-label=\"Main\"><ul>\n");
        string[] sections = ["Kitchen", "Garden", "Outdoor", "Travel", "Office", "Lighting", "Storage", "Bathroom", "Bedroom", "Living room", "Kids", "Sale"];
        for (var i = 0; i < sections.Length; i++)
        {
            nav.Append(CultureInfo.InvariantCulture, $"      <li class=\"nav-item\"><a class=\"nav-link\" href=\"/c/{i}\">{sections[i]}</a></li>\n");
        }

        nav.Append("    </ul></nav>\n    <form class=\"search\" action=\"/search\" role=\"search\"><input type=\"search\" name=\"q\" placeholder=\"Search products\" aria-label=\"Search\"><button type=\"submit\">Search</button></form>\n    <a class=\"basket\" href=\"/basket\" aria-label=\"Basket\"><span class=\"count\">0</span></a>\n  </header>\n");
        return nav.ToString();
    }
}
