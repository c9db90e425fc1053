namespace Platform.Workflow.Expressions;

/// <summary>
/// Recursive descent over the tokens of one expression. Precedence, loosest first: <c>||</c>, <c>&amp;&amp;</c>,
/// <c>== !=</c>, <c>&lt; &lt;= &gt; &gt;=</c>, <c>!</c>, then member access (<c>.name</c>, <c>[index]</c>).
/// </summary>
internal sealed class Parser
{
    private const string Names = "an expression reads inputs.<key>, steps.<name>.outputs.<key> and steps.<name>.status";

    private readonly List<Token> tokens;
    private readonly int? openedAt;
    private int index;
    private int depth;

    private Parser(List<Token> tokens, int? openedAt)
    {
        this.tokens = tokens;
        this.openedAt = openedAt;
    }

    private Token Current => tokens[index];

    /// <summary>A whole text as one expression.</summary>
    public static ExpressionNode ParseAll(string text)
    {
        var parser = new Parser(Lexer.Tokenize(text, 0), null);
        var root = parser.Root();
        return parser.Current.Kind == TokenKind.End ? root : throw parser.Unexpected("the end of the expression");
    }

    /// <summary>The expression of a template that starts after the <c>${{</c> at <paramref name="openedAt"/>.</summary>
    /// <returns>the expression, where its <c>}}</c> starts, and the index after it.</returns>
    public static (ExpressionNode Root, int CloseStart, int End) ParseEmbedded(string text, int openedAt)
    {
        var parser = new Parser(Lexer.Tokenize(text, openedAt + 3), openedAt);
        var root = parser.Root();
        var close = parser.Current;
        return close.Kind switch
        {
            TokenKind.Close => (root, close.Start, close.Start + close.Length),
            TokenKind.End => throw Unclosed(openedAt),
            _ => throw parser.Unexpected("'}}'"),
        };
    }

    private ExpressionNode Root()
    {
        if (Current.Kind is TokenKind.End or TokenKind.Close)
        {
            if (openedAt is { } open && Current.Kind == TokenKind.End)
            {
                throw Unclosed(open);
            }

            throw new ExpressionException("the expression is empty", Current.Start);
        }

        return Or();
    }

    private ExpressionNode Or() => Binary(And, TokenKind.Or);

    private ExpressionNode And() => Binary(Equality, TokenKind.And);

    private ExpressionNode Equality() => Binary(Comparison, TokenKind.Equal, TokenKind.NotEqual);

    private ExpressionNode Comparison() =>
        Binary(Unary, TokenKind.Less, TokenKind.LessOrEqual, TokenKind.Greater, TokenKind.GreaterOrEqual);

    private ExpressionNode Binary(Func<ExpressionNode> operand, params TokenKind[] operators)
    {
        var left = operand();
        while (operators.Contains(Current.Kind))
        {
            var op = Current;
            index++;
            var right = operand();
            left = Check(new BinaryNode(Operator(op.Kind), left, right, op.Start));
        }

        return left;
    }

    private ExpressionNode Unary()
    {
        if (Current.Kind != TokenKind.Not)
        {
            return Postfix(Primary());
        }

        var not = Current;
        index++;
        Enter(not);
        var operand = Unary();
        depth--;
        return Check(new NotNode(operand, not.Start));
    }

    private ExpressionNode Primary()
    {
        var token = Current;
        switch (token.Kind)
        {
            case TokenKind.Number or TokenKind.String:
                index++;
                return new LiteralNode(token.Value!, token.Start);
            case TokenKind.OpenParen:
                index++;
                Enter(token);
                var inner = Or();
                Expect(TokenKind.CloseParen, "')'");
                depth--;
                return inner;
            case TokenKind.Identifier:
                index++;
                switch (token.Name)
                {
                    case "true":
                        return new LiteralNode(ExpressionValue.True, token.Start);
                    case "false":
                        return new LiteralNode(ExpressionValue.False, token.Start);
                    case "null":
                        return new LiteralNode(ExpressionValue.Null, token.Start);
                }

                if (Current.Kind == TokenKind.OpenParen)
                {
                    throw new ExpressionException($"functions are not supported ('{token.Name}(...)'); {Names}", token.Start);
                }

                return token.Name switch
                {
                    "inputs" => new InputsNode(token.Start),
                    "steps" => Step(token),
                    _ => throw new ExpressionException($"unknown name '{token.Name}'; {Names}", token.Start),
                };
            default:
                throw Unexpected("a value");
        }
    }

    /// <summary><c>steps.&lt;name&gt;.outputs</c> or <c>steps.&lt;name&gt;.status</c>; the step by a literal name.</summary>
    private ExpressionNode Step(Token steps)
    {
        var name = LiteralMember("a step name: steps.<name> or steps['<name>']");
        var property = LiteralMember($"'.outputs.<key>' or '.status' after steps{Quote(name.Name)}");
        switch (property.Name)
        {
            case "outputs":
                return new StepOutputsNode(name.Name, steps.Start);
            case "status":
                if (Current.Kind is TokenKind.Dot or TokenKind.OpenBracket)
                {
                    throw new ExpressionException($"steps{Quote(name.Name)}.status is a string; it has no properties", Current.Start);
                }

                return new StepStatusNode(name.Name, steps.Start);
            default:
                throw new ExpressionException(
                    $"a step has 'outputs' and 'status', not '{property.Name}' (steps{Quote(name.Name)}.outputs.<key>)",
                    property.Start);
        }
    }

    /// <summary><c>.name</c> or <c>['name']</c>.</summary>
    private (string Name, int Start) LiteralMember(string expected)
    {
        var token = Current;
        if (token.Kind == TokenKind.Dot && tokens[index + 1] is { Kind: TokenKind.Identifier } name)
        {
            index += 2;
            return (name.Name!, name.Start);
        }

        if (token.Kind == TokenKind.OpenBracket &&
            tokens[index + 1] is { Kind: TokenKind.String } literal &&
            tokens[index + 2].Kind == TokenKind.CloseBracket)
        {
            index += 3;
            return (literal.Value!.AsString(), literal.Start);
        }

        throw token.Kind == TokenKind.Dot ? Unexpected(expected, tokens[index + 1]) : Unexpected(expected);
    }

    private ExpressionNode Postfix(ExpressionNode target)
    {
        while (true)
        {
            var token = Current;
            if (token.Kind == TokenKind.Dot)
            {
                var name = tokens[index + 1];
                if (name.Kind != TokenKind.Identifier)
                {
                    throw Unexpected("a name after '.'", name);
                }

                index += 2;
                target = Check(new MemberNode(target, name.Name!, token.Start));
            }
            else if (token.Kind == TokenKind.OpenBracket)
            {
                index++;
                Enter(token);
                var key = Or();
                Expect(TokenKind.CloseBracket, "']'");
                depth--;
                target = Check(key is LiteralNode { Value.Kind: ExpressionValueKind.String } literal
                    ? new MemberNode(target, literal.Value.AsString(), token.Start)
                    : new IndexNode(target, key, token.Start));
            }
            else
            {
                return target;
            }
        }
    }

    private void Expect(TokenKind kind, string what)
    {
        if (Current.Kind != kind)
        {
            throw Unexpected(what);
        }

        index++;
    }

    private void Enter(Token token)
    {
        if (++depth > Expression.MaxDepth)
        {
            throw TooDeep(token.Start);
        }
    }

    private static ExpressionNode Check(ExpressionNode node) =>
        node.Depth > Expression.MaxDepth ? throw TooDeep(node.Position) : node;

    private static ExpressionException TooDeep(int position) => new(
        $"the expression nests more than {Expression.MaxDepth} levels deep (operators in a row count as levels)", position);

    private ExpressionException Unexpected(string expected) => Unexpected(expected, Current);

    private ExpressionException Unexpected(string expected, Token found)
    {
        if (found.Kind == TokenKind.End && openedAt is { } open)
        {
            return Unclosed(open);
        }

        var what = found.Kind switch
        {
            TokenKind.End => "the end of the text",
            TokenKind.Close => "'}}'",
            TokenKind.String => $"the string {found.Value}",
            TokenKind.Number => $"the number {found.Value}",
            TokenKind.Identifier => $"'{found.Name}'",
            _ => $"'{Symbol(found.Kind)}'",
        };
        return new ExpressionException($"expected {expected} but found {what}", found.Start);
    }

    private static ExpressionException Unclosed(int openedAt) =>
        new("the expression opened with '${{' is not closed with '}}'", openedAt);

    private static string Quote(string name) =>
        name.Length > 0 && (char.IsAsciiLetter(name[0]) || name[0] == '_') &&
        name.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-')
            ? "." + name
            : $"['{name.Replace("'", "''", StringComparison.Ordinal)}']";

    private static BinaryOperator Operator(TokenKind kind) => kind switch
    {
        TokenKind.Equal => BinaryOperator.Equal,
        TokenKind.NotEqual => BinaryOperator.NotEqual,
        TokenKind.Less => BinaryOperator.Less,
        TokenKind.LessOrEqual => BinaryOperator.LessOrEqual,
        TokenKind.Greater => BinaryOperator.Greater,
        TokenKind.GreaterOrEqual => BinaryOperator.GreaterOrEqual,
        TokenKind.And => BinaryOperator.And,
        _ => BinaryOperator.Or,
    };

    private static string Symbol(TokenKind kind) => kind switch
    {
        TokenKind.Dot => ".",
        TokenKind.Comma => ",",
        TokenKind.OpenBracket => "[",
        TokenKind.CloseBracket => "]",
        TokenKind.OpenParen => "(",
        TokenKind.CloseParen => ")",
        TokenKind.Not => "!",
        TokenKind.And => "&&",
        TokenKind.Or => "||",
        TokenKind.Equal => "==",
        TokenKind.NotEqual => "!=",
        TokenKind.Less => "<",
        TokenKind.LessOrEqual => "<=",
        TokenKind.Greater => ">",
        TokenKind.GreaterOrEqual => ">=",
        _ => kind.ToString(),
    };
}
