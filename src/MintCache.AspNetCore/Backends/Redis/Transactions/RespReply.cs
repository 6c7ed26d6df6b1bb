using System.Buffers.Text;
using System.Text;

namespace MintCache.AspNetCore.Backends.Redis.Transactions;

/// <summary>One RESP2 reply: a status, an error, an integer, a bulk string, an array, or nil.</summary>
internal readonly struct RespReply
{
    private readonly object? _value;

    private RespReply(Kind kind, object? value, long integer = 0)
    {
        Type = kind;
        _value = value;
        Integer = integer;
    }

    public enum Kind
    {
        Nil,
        Status,
        Error,
        Integer,
        Bulk,
        Array,
    }

    public Kind Type { get; }

    public long Integer { get; }

    public bool IsNil => Type == Kind.Nil;

    public bool IsError => Type == Kind.Error;

    /// <summary>The text of a status or an error reply.</summary>
    public string Text => _value as string ?? "";

    /// <summary>The bytes of a bulk reply; null otherwise.</summary>
    public byte[]? Bytes => _value as byte[];

    /// <summary>The elements of an array reply; empty otherwise.</summary>
    public RespReply[] Elements => _value as RespReply[] ?? [];

    public static RespReply Nil => default;

    public static RespReply Status(string text) => new(Kind.Status, text);

    public static RespReply Error(string text) => new(Kind.Error, text);

    public static RespReply Of(long integer) => new(Kind.Integer, null, integer);

    public static RespReply Bulk(byte[] bytes) => new(Kind.Bulk, bytes);

    public static RespReply Array(RespReply[] elements) => new(Kind.Array, elements);

    /// <summary>A bulk reply read as a whole number, as Redis writes one (TIME's fields, a score); false otherwise.</summary>
    public bool TryNumber(out double number)
    {
        number = 0;
        return Bytes is { } bytes && Utf8Parser.TryParse(bytes, out number, out var used) && used == bytes.Length;
    }

    /// <summary>A bulk reply as UTF-8 text; null otherwise.</summary>
    public string? AsString() => Bytes is { } bytes ? Encoding.UTF8.GetString(bytes) : null;

    /// <summary>Whether this is Redis refusing a write because its memory is full.</summary>
    public bool IsOutOfMemory => IsError && Text.StartsWith("OOM", StringComparison.Ordinal);

    public override string ToString() => Type switch
    {
        Kind.Status or Kind.Error => Text,
        Kind.Integer => Integer.ToString(System.Globalization.CultureInfo.InvariantCulture),
        Kind.Bulk => $"{Bytes!.Length} bytes",
        Kind.Array => $"{Elements.Length} elements",
        _ => "nil",
    };
}
