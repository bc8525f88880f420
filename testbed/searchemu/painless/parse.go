package painless

// parser is a recursive-descent parser for the subset of Painless's grammar
// (modules/lang-painless/src/main/antlr/PainlessParser.g4) that update scripts use.
type parser struct {
	src   string
	toks  []token
	i     int
	err   *Error
	depth int
	// blockPos is where the last trailer parsed starts: its '{', or its one statement
	blockPos int
}

// maxDepth bounds nesting: ANTLR's recursion overflows the stack on deep nesting, which
// the compiler reports as a compile error caused by the StackOverflowError.
const maxDepth = 1000

func (p *parser) enter() {
	p.depth++
	if p.depth > maxDepth {
		p.fail(compileError(p.src, p.peek().pos, Cause{Type: "stack_overflow_error", Null: true}))
	}
}

// bail is the panic value that unwinds the parser on the first error.
type bail struct{}

func (p *parser) fail(e *Error) {
	p.err = e
	panic(bail{})
}

func (p *parser) peek() token { return p.toks[p.i] }
func (p *parser) peekN(n int) token {
	if p.i+n < len(p.toks) {
		return p.toks[p.i+n]
	}
	return p.toks[len(p.toks)-1]
}
func (p *parser) next() token {
	t := p.toks[p.i]
	if p.i < len(p.toks)-1 {
		p.i++
	}
	return t
}
func (p *parser) isOp(s string) bool { t := p.peek(); return t.kind == tOp && t.text == s }
func (p *parser) isKw(s string) bool { t := p.peek(); return t.kind == tIdent && t.text == s }

// syntax fails with ParserErrorStrategy's messages for a token no rule accepts.
func (p *parser) syntax(t token) {
	if t.kind == tEOF {
		p.fail(compileError(p.src, t.pos, Cause{Type: "illegal_argument_exception", Reason: "unexpected end of script.", Inner: &Cause{Type: "no_viable_alt_exception", Null: true}}))
	}
	p.fail(compileError(p.src, t.pos, Cause{Type: "illegal_argument_exception", Reason: "invalid sequence of tokens near [" + t.display() + "].", Inner: &Cause{Type: "no_viable_alt_exception", Null: true}}))
}

func (p *parser) unsupported(t token, what string) {
	p.fail(compileError(p.src, t.pos, unsupported(what)))
}

func (p *parser) expectOp(s string) token {
	if !p.isOp(s) {
		p.syntax(p.peek())
	}
	return p.next()
}

var unsupportedKeywords = map[string]string{
	"try": "try/catch", "throw": "throw", "catch": "try/catch", "this": "this",
}

// keywords that cannot name a variable
var loopKeywords = map[string]bool{"for": true, "while": true, "do": true, "break": true, "continue": true}

func parse(src string) (stmts []stmt, err *Error) {
	toks, lerr := lex(src)
	if lerr != nil {
		return nil, lerr
	}
	p := &parser{src: src, toks: toks}
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(bail); !ok {
				panic(r)
			}
			stmts, err = nil, p.err
		}
	}()
	stmts = p.statements(false)
	return stmts, nil
}

// statements parses statements up to EOF (or, in a block, up to its '}').
func (p *parser) statements(inBlock bool) []stmt {
	var out []stmt
	for {
		t := p.peek()
		if t.kind == tEOF {
			if inBlock {
				p.syntax(t)
			}
			return out
		}
		if inBlock && p.isOp("}") {
			return out
		}
		out = append(out, p.statement(inBlock))
	}
}

// statement parses an if statement, or a simple statement with its terminator: ';', the
// end of the script, or (in a block) the block's '}'.
func (p *parser) statement(inBlock bool) stmt {
	p.enter()
	defer func() { p.depth-- }()
	switch {
	case p.isKw("if"):
		return p.ifStatement(inBlock)
	case p.isKw("while"):
		kw := p.next()
		p.expectOp("(")
		cond := p.expression()
		p.expectOp(")")
		w := &sWhile{pos: kw.pos, cond: cond, body: p.loopBody(inBlock)}
		w.bodyPos = p.blockPos
		return w
	case p.isKw("for"):
		return p.forStatement(inBlock)
	}
	s := p.simpleStatement()
	switch {
	case p.isOp(";"):
		p.next()
	case p.peek().kind == tEOF:
	case inBlock && p.isOp("}"):
	case !inBlock:
		t := p.peek()
		p.fail(compileError(p.src, t.pos, Cause{Type: "illegal_argument_exception", Reason: "unexpected token [" + t.display() + "] was expecting one of [{<EOF>, ';'}].", Inner: &Cause{Type: "input_mismatch_exception", Null: true}}))
	default:
		p.syntax(p.peek())
	}
	return s
}

func (p *parser) ifStatement(inBlock bool) stmt {
	kw := p.next()
	p.expectOp("(")
	cond := p.expression()
	p.expectOp(")")
	s := &sIf{pos: kw.pos, cond: cond}
	s.then = p.trailer(inBlock)
	s.thenPos = p.blockPos
	if p.isKw("else") {
		p.next()
		s.hasElse = true
		s.els = p.trailer(inBlock)
		s.elsePos = p.blockPos
	}
	return s
}

// loopBody is a loop's trailer, or the empty statement ';'.
func (p *parser) loopBody(inBlock bool) []stmt {
	if p.isOp(";") {
		p.next()
		return nil
	}
	return p.trailer(inBlock)
}

// forStatement parses for (init; cond; after), for (type x : e) and for (x in e).
func (p *parser) forStatement(inBlock bool) stmt {
	kw := p.next()
	p.expectOp("(")
	t, n1 := p.peek(), p.peekN(1)
	if t.kind == tIdent && n1.kind == tIdent && n1.text == "in" {
		p.next()
		p.next()
		iter := p.expression()
		p.expectOp(")")
		e := &sEach{pos: kw.pos, typ: stDef, name: t.text, namePos: t.pos, iter: iter, body: p.trailer(inBlock)}
		e.bodyPos = p.blockPos
		return e
	}
	if st, ok := typeNames[t.text]; ok && t.kind == tIdent && n1.kind == tIdent && p.peekN(2).kind == tOp && p.peekN(2).text == ":" {
		p.next()
		p.next()
		p.next()
		iter := p.expression()
		p.expectOp(")")
		e := &sEach{pos: kw.pos, typ: st, name: n1.text, namePos: n1.pos, iter: iter, body: p.trailer(inBlock)}
		e.bodyPos = p.blockPos
		return e
	}
	f := &sFor{pos: kw.pos}
	if !p.isOp(";") {
		f.init = p.simpleStatement()
		switch f.init.(type) {
		case *sDecl, *sExpr:
		default:
			p.syntax(p.toks[p.i-1])
		}
	}
	p.expectOp(";")
	if !p.isOp(";") {
		f.cond = p.expression()
	}
	p.expectOp(";")
	if !p.isOp(")") {
		f.after = p.expression()
	}
	p.expectOp(")")
	f.body = p.loopBody(inBlock)
	f.bodyPos = p.blockPos
	return f
}

func (p *parser) trailer(inBlock bool) []stmt {
	start := p.peek().pos
	defer func() { p.blockPos = start }()
	if p.isOp("{") {
		p.next()
		body := p.statements(true)
		p.expectOp("}")
		return body
	}
	if p.isOp(";") {
		p.unsupported(p.peek(), "an empty statement")
	}
	return []stmt{p.statement(inBlock)}
}

func (p *parser) simpleStatement() stmt {
	t := p.peek()
	if t.kind == tIdent {
		if what, ok := unsupportedKeywords[t.text]; ok {
			p.unsupported(t, what)
		}
		switch t.text {
		case "break":
			p.next()
			return &sBreak{pos: t.pos}
		case "continue":
			p.next()
			return &sContinue{pos: t.pos}
		case "do":
			p.next()
			bodyPos := p.peek().pos
			p.expectOp("{")
			body := p.statements(true)
			p.expectOp("}")
			if !p.isKw("while") {
				p.syntax(p.peek())
			}
			p.next()
			p.expectOp("(")
			cond := p.expression()
			p.expectOp(")")
			return &sDo{pos: t.pos, bodyPos: bodyPos, body: body, cond: cond}
		case "return":
			p.next()
			s := &sReturn{pos: t.pos}
			if !p.isOp(";") && p.peek().kind != tEOF && !p.isOp("}") {
				s.x = p.expression()
			}
			return s
		case "else":
			p.syntax(t)
		}
		if nt := p.peekN(1); nt.kind == tIdent || (nt.kind == tOp && nt.text == "[" && p.peekN(2).kind == tOp && p.peekN(2).text == "]") {
			if st, ok := typeNames[t.text]; ok {
				if nt.kind != tIdent {
					p.unsupported(t, "an array type")
				}
				return p.declaration(st)
			}
			if otherTypes[t.text] {
				p.unsupported(t, "type ["+t.text+"]")
			}
			if nt.kind == tIdent && p.peekN(2).kind == tOp && p.peekN(2).text == "(" {
				p.unsupported(t, "a function definition")
			}
		}
	}
	x := p.expression()
	return &sExpr{pos: startOf(x), x: x}
}

func (p *parser) declaration(st stype) stmt {
	p.next()
	d := &sDecl{typ: st}
	for {
		name := p.next()
		if name.kind != tIdent {
			p.syntax(name)
		}
		if _, kw := unsupportedKeywords[name.text]; kw || loopKeywords[name.text] || isReserved(name.text) {
			p.syntax(name)
		}
		v := declVar{pos: name.pos, name: name.text}
		if p.isOp("=") {
			p.next()
			v.init = p.expression()
		}
		d.vars = append(d.vars, v)
		if !p.isOp(",") {
			return d
		}
		p.next()
	}
}

func isReserved(s string) bool {
	switch s {
	case "if", "else", "return", "new", "true", "false", "null", "instanceof", "in":
		return true
	}
	_, ok := typeNames[s]
	return ok
}

var assignOps = map[string]string{"=": "=", "+=": "+", "-=": "-", "*=": "*", "/=": "/", "%=": "%", "&=": "&", "|=": "|", "^=": "^", "<<=": "<<", ">>=": ">>", ">>>=": ">>>"}

func (p *parser) expression() expr {
	p.enter()
	defer func() { p.depth-- }()
	lhs := p.conditional()
	if t := p.peek(); t.kind == tOp {
		if op, ok := assignOps[t.text]; ok {
			p.next()
			val := p.expression()
			return &eAssign{pos: startOf(lhs), op: op, target: lhs, val: val}
		}
	}
	return lhs
}

func (p *parser) conditional() expr {
	c := p.binary(0)
	switch {
	case p.isOp("?"):
		p.next()
		a := p.expression()
		p.expectOp(":")
		b := p.expression()
		return &eCond{pos: startOf(c), c: c, a: a, b: b}
	case p.isOp("?:"):
		p.next()
		r := p.expression()
		return &eElvis{pos: startOf(c), l: c, r: r}
	}
	return c
}

var binaryLevels = [][]string{
	{"||"}, {"&&"}, {"|"}, {"^"}, {"&"}, {"==", "!=", "===", "!=="}, {"<", "<=", ">", ">=", "instanceof"}, {"<<", ">>", ">>>"}, {"+", "-"}, {"*", "/", "%"},
}

func (p *parser) binary(level int) expr {
	if level == len(binaryLevels) {
		return p.unary()
	}
	l := p.binary(level + 1)
	chain := 0
	for {
		t := p.peek()
		op := ""
		for _, o := range binaryLevels[level] {
			if (t.kind == tOp || (o == "instanceof" && t.kind == tIdent)) && t.text == o {
				op = o
			}
		}
		if op == "" {
			return l
		}
		p.next()
		switch op {
		case "===", "!==":
			p.unsupported(t, "the reference equality operator ["+op+"]")
		case "&", "|", "^", "<<", ">>", ">>>":
			p.unsupported(t, "the bitwise operator ["+op+"]")
		case "instanceof":
			tt := p.next()
			st, ok := typeNames[tt.text]
			if tt.kind != tIdent || !ok || st == stDef {
				p.unsupported(tt, "instanceof this type")
			}
			l = &eInstanceof{pos: startOf(l), x: l, typ: st}
			continue
		}
		r := p.binary(level + 1)
		l = &eBinary{pos: startOf(l), op: op, l: l, r: r}
		// a left-deep chain is walked recursively by the compiler's later phases
		if chain++; chain > 10*maxDepth {
			p.fail(compileError(p.src, t.pos, Cause{Type: "stack_overflow_error", Null: true}))
		}
	}
}

// startOf is where an expression starts in the source: the location Painless gives the
// binary, conditional and assignment nodes built on it (the rule's first token).
func startOf(e expr) int {
	switch x := e.(type) {
	case *eField:
		return startOf(x.x)
	case *eIndex:
		return startOf(x.x)
	case *eCall:
		return startOf(x.x)
	case *eBinary:
		return startOf(x.l)
	case *eIncDec:
		if !x.prefix {
			return startOf(x.target)
		}
	case *eCond:
		return startOf(x.c)
	case *eElvis:
		return startOf(x.l)
	case *eInstanceof:
		return startOf(x.x)
	case *eAssign:
		return startOf(x.target)
	}
	return e.at()
}

func (p *parser) unary() expr {
	p.enter()
	defer func() { p.depth-- }()
	t := p.peek()
	if t.kind == tOp {
		switch t.text {
		case "!", "-", "+":
			p.next()
			return &eUnary{pos: t.pos, op: t.text, x: p.unary()}
		case "~":
			p.unsupported(t, "the bitwise operator [~]")
		case "++", "--":
			p.next()
			x := p.unary()
			d := int32(1)
			if t.text == "--" {
				d = -1
			}
			return &eIncDec{pos: t.pos, target: x, delta: d, prefix: true}
		case "(":
			if nt := p.peekN(1); nt.kind == tIdent && p.peekN(2).kind == tOp && p.peekN(2).text == ")" {
				if st, ok := typeNames[nt.text]; ok {
					p.next()
					p.next()
					p.next()
					return &eCast{pos: t.pos, typ: st, x: p.unary()}
				}
				if otherTypes[nt.text] {
					p.unsupported(nt, "a cast to ["+nt.text+"]")
				}
			}
		}
	}
	return p.postfix(p.primary())
}

func (p *parser) postfix(x expr) expr {
	for {
		t := p.peek()
		if t.kind != tOp {
			return x
		}
		switch t.text {
		case ".", "?.":
			p.next()
			name := p.next()
			if name.kind != tIdent && name.kind != tInt {
				p.syntax(name)
			}
			if p.isOp("(") {
				x = &eCall{pos: t.pos, x: x, name: name.text, args: p.arguments(), nullSafe: t.text == "?."}
			} else {
				x = &eField{pos: t.pos, x: x, name: name.text, nullSafe: t.text == "?."}
			}
		case "[":
			p.next()
			idx := p.expression()
			p.expectOp("]")
			x = &eIndex{pos: t.pos, x: x, idx: idx}
		case "++", "--":
			p.next()
			d := int32(1)
			if t.text == "--" {
				d = -1
			}
			return &eIncDec{pos: t.pos, target: x, delta: d}
		case "->", "::":
			p.unsupported(t, "a lambda or method reference")
		case "=~", "==~":
			p.unsupported(t, "a regular expression")
		default:
			return x
		}
	}
}

func (p *parser) arguments() []expr {
	p.expectOp("(")
	var args []expr
	if p.isOp(")") {
		p.next()
		return args
	}
	for {
		args = append(args, p.expression())
		if p.isOp(")") {
			p.next()
			return args
		}
		p.expectOp(",")
	}
}

func (p *parser) primary() expr {
	t := p.next()
	switch t.kind {
	case tInt:
		return &eLit{pos: t.pos, text: t.text, kind: "numeric"}
	case tDecimal:
		return &eLit{pos: t.pos, text: t.text, kind: "decimal"}
	case tString:
		return &eLit{pos: t.pos, v: t.text, text: t.text, kind: "string"}
	case tIdent:
		switch t.text {
		case "true", "false":
			return &eLit{pos: t.pos, v: t.text == "true", text: t.text, kind: "boolean"}
		case "null":
			return &eLit{pos: t.pos, text: "null", kind: "null"}
		case "new":
			tt := p.next()
			if tt.kind != tIdent {
				p.syntax(tt)
			}
			if p.isOp("[") {
				p.unsupported(tt, "an array")
			}
			if tt.text != "ArrayList" && tt.text != "HashMap" {
				p.unsupported(tt, "new ["+tt.text+"]")
			}
			return &eNew{pos: t.pos, typ: tt.text, args: p.arguments()}
		}
		if what, ok := unsupportedKeywords[t.text]; ok {
			p.unsupported(t, what)
		}
		if loopKeywords[t.text] || t.text == "in" || t.text == "else" || t.text == "if" || t.text == "return" || t.text == "instanceof" {
			p.syntax(t)
		}
		if otherTypes[t.text] {
			p.unsupported(t, "["+t.text+"]")
		}
		if _, ok := typeNames[t.text]; ok {
			p.syntax(t)
		}
		if p.isOp("(") {
			p.unsupported(t, "a function call")
		}
		return &eVar{pos: t.pos, name: t.text}
	case tOp:
		switch t.text {
		case "(":
			x := p.expression()
			p.expectOp(")")
			return x
		case "[":
			return p.initializer(t)
		case "/":
			p.unsupported(t, "a regular expression")
		}
	}
	p.syntax(t)
	return nil
}

// initializer parses [] and [a, b] (ArrayList) and [:] and [k: v] (HashMap).
func (p *parser) initializer(open token) expr {
	if p.isOp("]") {
		p.next()
		return &eListInit{pos: open.pos}
	}
	if p.isOp(":") {
		p.next()
		p.expectOp("]")
		return &eMapInit{pos: open.pos}
	}
	first := p.expression()
	if p.isOp(":") {
		m := &eMapInit{pos: open.pos}
		p.next()
		m.keys, m.vals = append(m.keys, first), append(m.vals, p.expression())
		for p.isOp(",") {
			p.next()
			k := p.expression()
			p.expectOp(":")
			m.keys, m.vals = append(m.keys, k), append(m.vals, p.expression())
		}
		p.expectOp("]")
		return m
	}
	l := &eListInit{pos: open.pos, elems: []expr{first}}
	for p.isOp(",") {
		p.next()
		l.elems = append(l.elems, p.expression())
	}
	p.expectOp("]")
	return l
}
