using System.Globalization;

namespace Platform.Workflow.Expressions;

internal enum TokenKind
{
    Number,
    String,
    Identifier,
    Dot,
    Comma,
    OpenBracket,
    CloseBracket,
    OpenParen,
    CloseParen,
    Not,
    And,
    Or,
    Equal,
    NotEqual,
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,

    /// <summary><c>}}</c>: the end of an expression inside a template.</summary>
    Close,

    /// <summary>The end of the text.</summary>
    End,
}

/// <param name="Start">0-based index of the token's first character.</param>
/// <param name="Value">The name of an identifier, the value of a string or number literal.</param>
internal readonly record struct Token(TokenKind Kind, int Start, int Length, ExpressionValue? Value = null, string? Name = null);

/// <summary>Splits expression text into tokens, from a start index up to the first <c>}}</c> outside a string (or the
/// end of the text).</summary>
internal static class Lexer
{
    public static List<Token> Tokenize(string text, int start)
    {
        var tokens = new List<Token>();
        var i = start;
        while (true)
        {
            while (i < text.Length && char.IsWhiteSpace(text[i]))
            {
                i++;
            }

            if (i >= text.Length)
            {
                tokens.Add(new Token(TokenKind.End, i, 0));
                return tokens;
            }

            var c = text[i];
            var next = i + 1 < text.Length ? text[i + 1] : '\0';
            Token token;
            if (c == '}' && next == '}')
            {
                tokens.Add(new Token(TokenKind.Close, i, 2));
                return tokens;
            }

            if (c == '\'')
            {
                token = String(text, i);
            }
            else if (char.IsAsciiDigit(c) || (c == '-' && char.IsAsciiDigit(next)))
            {
                token = Number(text, i);
            }
            else if (char.IsAsciiLetter(c) || c == '_')
            {
                var end = i + 1;
                while (end < text.Length && (char.IsAsciiLetterOrDigit(text[end]) || text[end] is '_' or '-'))
                {
                    end++;
                }

                token = new Token(TokenKind.Identifier, i, end - i, Name: text[i..end]);
            }
            else
            {
                token = (c, next) switch
                {
                    ('=', '=') => new Token(TokenKind.Equal, i, 2),
                    ('!', '=') => new Token(TokenKind.NotEqual, i, 2),
                    ('<', '=') => new Token(TokenKind.LessOrEqual, i, 2),
                    ('>', '=') => new Token(TokenKind.GreaterOrEqual, i, 2),
                    ('&', '&') => new Token(TokenKind.And, i, 2),
                    ('|', '|') => new Token(TokenKind.Or, i, 2),
                    ('!', _) => new Token(TokenKind.Not, i, 1),
                    ('<', _) => new Token(TokenKind.Less, i, 1),
                    ('>', _) => new Token(TokenKind.Greater, i, 1),
                    ('.', _) => new Token(TokenKind.Dot, i, 1),
                    (',', _) => new Token(TokenKind.Comma, i, 1),
                    ('[', _) => new Token(TokenKind.OpenBracket, i, 1),
                    (']', _) => new Token(TokenKind.CloseBracket, i, 1),
                    ('(', _) => new Token(TokenKind.OpenParen, i, 1),
                    (')', _) => new Token(TokenKind.CloseParen, i, 1),
                    ('=', _) => throw new ExpressionException("'=' is not an operator; compare with '=='", i),
                    ('&', _) => throw new ExpressionException("'&' is not an operator; use '&&'", i),
                    ('|', _) => throw new ExpressionException("'|' is not an operator; use '||'", i),
                    ('"', _) => throw new ExpressionException("strings are written in single quotes: 'text'", i),
                    ('-' or '+' or '*' or '/' or '%', _) => throw new ExpressionException(
                        $"'{c}' is not an operator; expressions have no arithmetic", i),
                    _ => throw new ExpressionException($"unexpected character '{c}'", i),
                };
            }

            tokens.Add(token);
            i = token.Start + token.Length;
        }
    }

    /// <summary>A single-quoted string; <c>''</c> stands for one quote.</summary>
    private static Token String(string text, int start)
    {
        var value = new System.Text.StringBuilder();
        var i = start + 1;
        while (true)
        {
            if (i >= text.Length)
            {
                throw new ExpressionException("the string is not closed with a single quote (')", start);
            }

            if (text[i] == '\'')
            {
                if (i + 1 < text.Length && text[i + 1] == '\'')
                {
                    value.Append('\'');
                    i += 2;
                    continue;
                }

                return new Token(TokenKind.String, start, i + 1 - start, ExpressionValue.FromString(value.ToString()));
            }

            value.Append(text[i]);
            i++;
        }
    }

    /// <summary><c>-?digits(.digits)?([eE][+-]?digits)?</c>.</summary>
    private static Token Number(string text, int start)
    {
        var i = start;
        if (text[i] == '-')
        {
            i++;
        }

        i = Digits(text, i);
        if (i + 1 < text.Length && text[i] == '.' && char.IsAsciiDigit(text[i + 1]))
        {
            i = Digits(text, i + 1);
        }

        if (i < text.Length && text[i] is 'e' or 'E')
        {
            var exponent = i + 1;
            if (exponent < text.Length && text[exponent] is '+' or '-')
            {
                exponent++;
            }

            if (exponent < text.Length && char.IsAsciiDigit(text[exponent]))
            {
                i = Digits(text, exponent);
            }
        }

        if (i < text.Length && (char.IsAsciiLetterOrDigit(text[i]) || text[i] is '_' or '.'))
        {
            throw new ExpressionException($"'{text[start..(i + 1)]}' is not a number", start);
        }

        var number = double.Parse(text.AsSpan(start, i - start), NumberStyles.Float, CultureInfo.InvariantCulture);
        return double.IsFinite(number)
            ? new Token(TokenKind.Number, start, i - start, ExpressionValue.FromNumber(number))
            : throw new ExpressionException($"the number {text[start..i]} is too large", start);
    }

    private static int Digits(string text, int i)
    {
        while (i < text.Length && char.IsAsciiDigit(text[i]))
        {
            i++;
        }

        return i;
    }
}
