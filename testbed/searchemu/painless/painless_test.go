package painless

import (
	"strings"
	"testing"
)

// src builds a LinkedHashMap source from alternating keys and values.
func src(kv ...any) *Map {
	m := NewMap(false)
	for i := 0; i < len(kv); i += 2 {
		m.Put(kv[i], kv[i+1])
	}
	return m
}

func run1(t *testing.T, script string, source, params *Map) (*Map, *Error) {
	t.Helper()
	s, err := Compile(script)
	if err != nil {
		return nil, err
	}
	ctx := src("op", "index", "_source", source)
	if params == nil {
		params = NewMap(true)
	}
	if err := s.Execute(ctx, params); err != nil {
		return ctx, err
	}
	return ctx, nil
}

// TestExecute follows painless's BasicStatementTests, BasicExpressionTests,
// CompoundAssignmentTests, IncrementTests, DivisionTests, StringTests, ListTests and
// MapTests: results and the Java classes they keep.
func TestExecute(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		script string
		source *Map
		params *Map
		want   string // ToString of ctx._source
	}{
		{"assign int", "ctx._source.n = 5", src(), nil, "{n=5}"},
		{"increment params", "ctx._source.n += params.by", src("n", int32(1)), src("by", int32(2)), "{n=3}"},
		{"int overflow wraps", "ctx._source.n += 1", src("n", int32(2147483647)), nil, "{n=-2147483648}"},
		{"long stays long", "ctx._source.n += 1", src("n", int64(2147483647)), nil, "{n=2147483648}"},
		{"compound casts back to int", "ctx._source.n += 1.5", src("n", int32(1)), nil, "{n=2}"},
		{"double", "ctx._source.d = ctx._source.n / 2.0", src("n", int32(3)), nil, "{n=3, d=1.5}"},
		{"int division truncates", "ctx._source.d = ctx._source.n / 2", src("n", int32(7)), nil, "{n=7, d=3}"},
		{"postfix", "ctx._source.n++", src("n", int32(1)), nil, "{n=2}"},
		{"prefix decrement", "--ctx._source.n", src("n", int32(1)), nil, "{n=0}"},
		{"minus assign", "ctx._source.n -= params.x", src("n", int32(10)), src("x", int32(3)), "{n=7}"},
		{"string concat", "ctx._source.s = 'a' + 1 + 2.5 + null + true", src(), nil, "{s=a12.5nulltrue}"},
		{"string plus equals", "ctx._source.s += '!'", src("s", "hi"), nil, "{s=hi!}"},
		{"null plus string", "ctx._source.s += 'x'", src(), nil, "{s=nullx}"},
		{"bracket access", "ctx['_source']['a b'] = params['v']", src(), src("v", "x"), "{a b=x}"},
		{"if else", "if (ctx._source.n > 5) { ctx._source.big = true } else { ctx._source.big = false }", src("n", int32(6)), nil, "{n=6, big=true}"},
		{"else branch", "if (ctx._source.n > 5) ctx._source.big = true; else ctx._source.big = false;", src("n", int32(1)), nil, "{n=1, big=false}"},
		{"and or not", "if (!(ctx._source.a && false) || ctx._source.b) { ctx._source.c = 1 }", src("a", true, "b", false), nil, "{a=true, b=false, c=1}"},
		{"locals", "int x = 2; long y = x; double z = y; String s = 'v'; def d = [1]; boolean b = true; List l = new ArrayList(); Map m = [:]; l.add(x); m.put('k', z); ctx._source.r = [x, y, z, s, d, b, l, m]", src(), nil, "{r=[2, 2, 2.0, v, [1], true, [2], {k=2.0}]}"},
		{"remove field", "ctx._source.remove('a')", src("a", int32(1), "b", int32(2)), nil, "{b=2}"},
		{"containsKey", "if (!ctx._source.containsKey('tags')) { ctx._source.tags = [] } ctx._source.tags.add(params.tag)", src(), src("tag", "t"), "{tags=[t]}"},
		{"list contains", "if (!ctx._source.tags.contains(params.tag)) { ctx._source.tags.add(params.tag) }", src("tags", &List{Elems: []any{"t"}}), src("tag", "t"), "{tags=[t]}"},
		{"list remove by index", "int i = ctx._source.tags.indexOf(params.tag); if (i >= 0) { ctx._source.tags.remove(i) }", src("tags", &List{Elems: []any{"a", "b"}}), src("tag", "a"), "{tags=[b]}"},
		{"list size", "ctx._source.n = ctx._source.tags.size()", src("tags", &List{Elems: []any{"a", "b"}}), nil, "{tags=[a, b], n=2}"},
		{"negative index", "ctx._source.last = ctx._source.tags[-1]", src("tags", &List{Elems: []any{"a", "b"}}), nil, "{tags=[a, b], last=b}"},
		{"map put get", "Map m = ctx._source.m; m.put('b', m.get('a') + 1); ctx._source.has = m.containsKey('b')", src("m", src("a", int32(1))), nil, "{m={a=1, b=2}, has=true}"},
		{"null checks", "if (ctx._source.x == null) { ctx._source.x = 0 } ctx._source.y = ctx._source.z ?: 'dflt'", src(), nil, "{x=0, y=dflt}"},
		{"null safe", "ctx._source.y = ctx._source.a?.b", src(), nil, "{y=null}"},
		{"numeric equality promotes", "ctx._source.eq = (1 == 1L) && (1 == 1.0) && !(1 == '1')", src(), nil, "{eq=true}"},
		{"contains is strict", "ctx._source.c = ctx._source.l.contains(1L)", src("l", &List{Elems: []any{int32(1)}}), nil, "{l=[1], c=false}"},
		{"return stops", "ctx._source.a = 1; if (ctx._source.a == 1) { return } ctx._source.b = 2", src(), nil, "{a=1}"},
		{"ternary", "ctx._source.t = ctx._source.n > 1 ? 'big' : 'small'", src("n", int32(2)), nil, "{n=2, t=big}"},
		{"nested dotted", "ctx._source.a.b.c += 1", src("a", src("b", src("c", int32(1)))), nil, "{a={b={c=2}}}"},
		{"string methods", "ctx._source.s = ctx._source.s.toUpperCase().substring(1) + ctx._source.s.length()", src("s", "abc"), nil, "{s=BC3}"},
		{"cast", "ctx._source.i = (int) 2.9; ctx._source.l = (long) params.x", src(), src("x", int32(3)), "{i=2, l=3}"},
		{"comments", "// one\nctx._source.a = 1; /* two */ ctx._source.b = 2", src(), nil, "{a=1, b=2}"},
		{"escapes", `ctx._source.s = 'it\'s \\ ok'`, src(), nil, `{s=it's \ ok}`},
		{"double to string", "ctx._source.s = '' + 1e20 + ' ' + 0.0001 + ' ' + 100.0", src(), nil, "{s=1.0E20 1.0E-4 100.0}"},
		{"long literal", "ctx._source.n = 864000000000L", src(), nil, "{n=864000000000}"},
		{"ctx op noop", "ctx.op = 'noop'", src(), nil, "{}"},
		{"for each in", "int s = 0; for (x in ctx._source.l) { s += x } ctx._source.s = s", src("l", &List{Elems: []any{int32(1), int32(2)}}), nil, "{l=[1, 2], s=3}"},
		{"for each typed", "for (def item : ctx._source.items) { if (item.id == params.id) { item.qty += params.n; break } }", src("items", &List{Elems: []any{src("id", "a", "qty", int32(1)), src("id", "b", "qty", int32(1))}}), src("id", "b", "n", int32(4)), "{items=[{id=a, qty=1}, {id=b, qty=5}]}"},
		{"classic for", "for (int i = 0; i < ctx._source.l.size(); ++i) { if (i == 0) { continue } ctx._source.l[i] *= 10 }", src("l", &List{Elems: []any{int32(1), int32(2), int32(3)}}), nil, "{l=[1, 20, 30]}"},
		{"while and do", "int i = 0; while (i < 3) { i++ } do { i += 10 } while (i < 5); ctx._source.i = i", src(), nil, "{i=13}"},
		{"loop budget just below the limit", "for (int x = 0; x < 999999; ++x) {}", src(), nil, "{}"},
		{"elements removed end the iteration", "for (def x : ctx._source.l) { ctx._source.l.remove(0); ctx._source.l.add(9) }", src("l", &List{Elems: []any{int32(1)}}), nil, "{l=[9]}"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, err := run1(t, tc.script, tc.source, tc.params)
			if err != nil {
				t.Fatalf("%s: %v %v", tc.script, err, err.Stack)
			}
			s, _ := ctx.Get("_source")
			if got := ToString(s); got != tc.want {
				t.Errorf("%s: want %s, got %s", tc.script, tc.want, got)
			}
		})
	}
}

func TestTypesKept(t *testing.T) {
	t.Parallel()
	ctx, err := run1(t, "ctx._source.i = 1 + 1; ctx._source.l = 1 + 1L; ctx._source.d = 1 + 1.0; ctx._source.f = 1 + 1f", src(), nil)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := ctx.Get("_source")
	m := s.(*Map)
	for k, want := range map[string]string{"i": "java.lang.Integer", "l": "java.lang.Long", "d": "java.lang.Double", "f": "java.lang.Float"} {
		v, _ := m.Get(k)
		if got := className(v); got != want {
			t.Errorf("%s: want %s, got %s", k, want, got)
		}
	}
}

// TestErrors follows WhenThingsGoWrongTests and ScriptException's shape.
func TestErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		script  string
		source  *Map
		runtime bool
		typ     string
		reason  string
		offset  int
		stack0  string
	}{
		{"missing field plus", "ctx._source.missing += 1", src(), true, "null_pointer_exception", `Cannot invoke "Object.getClass()" because "left" is null`, 0, "ctx._source.missing += 1"},
		{"null receiver", "ctx._source.a.b = 1", src(), true, "null_pointer_exception", "cannot access method/field [b] from a null def reference", 13, "ctx._source.a.b = 1"},
		{"null method receiver", "int x = 1; ctx._source.tags.add('x')", src(), true, "null_pointer_exception", "cannot access method/field [add] from a null def reference", 27, "ctx._source.tags.add('x')"},
		{"division by zero", "ctx._source.r = ctx._source.a / ctx._source.b", src("a", int32(1), "b", int32(0)), true, "arithmetic_exception", "/ by zero", 16, "ctx._source.r = ctx._source.a / ctx._source.b"},
		{"implicit narrowing", "int x = params.l", nil, true, "class_cast_exception", "cannot implicitly cast def [long] to int", 14, "x = params.l"},
		{"dynamic method", "ctx._source.s.add(1)", src("s", "x"), true, "illegal_argument_exception", "dynamic method [java.lang.String, add/1] not found", 13, "ctx._source.s.add(1)"},
		{"index out of bounds", "ctx._source.l[5] = 1", src("l", &List{}), true, "index_out_of_bounds_exception", "Index 5 out of bounds for length 0", 13, "ctx._source.l[5] = 1"},
		{"syntax", "ctx._source.n += ", src(), false, "illegal_argument_exception", "unexpected end of script.", 17, "ctx._source.n += "},
		{"bad token", "ctx._source.n = = 1", src(), false, "illegal_argument_exception", "invalid sequence of tokens near ['='].", 16, "ctx._source.n = = 1"},
		{"unknown symbol", "x = 1", src(), false, "illegal_argument_exception", "cannot resolve symbol [x]", 0, "x = 1"},
		{"not a statement", "ctx._source.n", src(), false, "illegal_argument_exception", "not a statement: result of dot operator [.] not used", 11, "ctx._source.n"},
		{"static cast", "int x = 'a'", src(), false, "class_cast_exception", "Cannot cast from [java.lang.String] to [int].", 8, "int x = 'a'"},
		{"int constant", "ctx._source.n = 864000000000", src(), false, "illegal_argument_exception", "Invalid int constant [864000000000]. If you want a long constant then change it to [864000000000L].", 16, "ctx._source.n = 864000000000"},
		{"bad escape", `ctx._source.s = '\n'`, src(), false, "illegal_argument_exception", `unexpected character ['\n]. The only valid escape sequences in strings starting with ['] are [\\] and [\'].`, 16, `ctx._source.s = '\n'`},
		{"rcurly", "def i = 1} return 1", src(), false, "illegal_argument_exception", "unexpected token ['}'] was expecting one of [{<EOF>, ';'}].", 9, "def i = 1} return 1"},
		{"unsupported lambda", "ctx._source.l.removeIf(t -> t == 1)", src(), false, "illegal_argument_exception", "searchemu: a lambda or method reference is outside the emulator's Painless subset", 25, "ctx._source.l.removeIf(t -> t == 1)"},
		{"loop limit", "int i = 0; while (true) { i++ }", src(), true, "painless_error", "The maximum number of statements that can be executed in a loop has been reached.", 11, "while (true) { "},
		{"modified while iterating", "for (def x : ctx._source.l) { ctx._source.l.add(1) }", src("l", &List{Elems: []any{int32(1), int32(2)}}), true, "concurrent_modification_exception", "", 0, "for (def x : ctx._source.l) { "},
		// DefaultSemanticAnalysisPhase's control-flow checks
		{"break outside loop", "break", src(), false, "illegal_argument_exception", "invalid break statement: not inside loop", 0, "break"},
		{"continue outside loop", "if (ctx.op == 'x') { continue }", src(), false, "illegal_argument_exception", "invalid continue statement: not inside loop", 21, "if (ctx.op == 'x') { continue }"},
		{"extraneous continue", "for (x in ctx._source.l) { if (x == 1) { continue } }", src(), false, "illegal_argument_exception", "extraneous continue statement", 41, "... ource.l) { if (x == 1) { continue } }"},
		{"unreachable", "ctx._source.a = 1; return; ctx._source.b = 2", src(), false, "illegal_argument_exception", "invalid block: unreachable statement", 0, "ctx._source.a = 1; return ..."},
		{"extraneous if", "if (true) { ctx._source.a = 1 }", src(), false, "illegal_argument_exception", "extraneous if block", 0, "if (true) { ctx._source.a ..."},
		{"empty if", "if (ctx._source.a == 1) {}", src(), false, "illegal_argument_exception", "extraneous if block", 0, "if (ctx._source.a == 1) { ..."},
		{"extraneous loop", "while (ctx._source.a == 1) { break }", src(), false, "illegal_argument_exception", "extraneous while loop", 0, "while (ctx._source.a == 1 ..."},
		{"no escape", "while (true) {}", src(), false, "illegal_argument_exception", "no paths escape from while loop", 0, "while (true) {}"},
		{"statement after an endless loop", "while (true) { ctx._source.a++ } ctx._source.b = 1", src(), false, "illegal_argument_exception", "invalid block: unreachable statement", 0, "while (true) { ctx._sourc ..."},
		{"iterate a map", "for (def x : ctx) { ctx.op = 'none' }", src(), false, "illegal_argument_exception", "invalid foreach loop: cannot iterate over type [java.util.Map].", 0, "for (def x : ctx) { ctx.o ..."},
		{"return a value", "return ctx._source", src(), false, "class_cast_exception", "Cannot cast from [def] to [void].", 10, "return ctx._source"},
		{"return null", "return null", src(), false, "class_cast_exception", "Cannot cast null to a primitive type [void].", 7, "return null"},
		{"loop limit exactly", "for (int x = 0; x < 1000000; ++x) {}", src(), true, "painless_error", "The maximum number of statements that can be executed in a loop has been reached.", 0, "for (int "},
		{"member method", "ctx.foo()", src(), false, "illegal_argument_exception", "member method [java.util.Map, foo/0] not found", 3, "ctx.foo()"},
		{"constant division", "int x = 1 / 0", src(), false, "arithmetic_exception", "/ by zero", 8, "int x = 1 / 0"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := run1(t, tc.script, tc.source, src("l", int64(1)))
			if err == nil {
				t.Fatalf("%s: no error", tc.script)
			}
			if err.Runtime != tc.runtime || err.Cause.Type != tc.typ || err.Cause.Reason != tc.reason || err.Offset != tc.offset || err.Stack[0] != tc.stack0 {
				t.Errorf("%s:\nwant runtime=%v %s %q @%d %q\ngot  runtime=%v %s %q @%d %q", tc.script, tc.runtime, tc.typ, tc.reason, tc.offset, tc.stack0, err.Runtime, err.Cause.Type, err.Cause.Reason, err.Offset, err.Stack[0])
			}
			if !strings.HasSuffix(err.Stack[1], "^---- HERE") {
				t.Errorf("pointer %q", err.Stack[1])
			}
		})
	}
}

func TestDeepNesting(t *testing.T) {
	t.Parallel()
	for _, src := range []string{strings.Repeat("(", 100000) + "1", strings.Repeat("-", 100000) + "1", strings.Repeat("if (true) ", 100000) + "ctx.op = 'none'", "ctx._source.n = 1" + strings.Repeat(" + 1", 100000)} {
		_, err := Compile(src)
		if err == nil || err.Cause.Type != "stack_overflow_error" {
			t.Errorf("deep nesting: %v", err)
		}
	}
}

func TestHashMapOrder(t *testing.T) {
	t.Parallel()
	// Java: new HashMap<>() with these keys iterates {a=1, b=2, foo=3, zz=4} ...
	m := NewMap(true)
	for i, k := range []string{"zz", "foo", "b", "a"} {
		m.Put(k, int32(i))
	}
	// hashes: a=97, b=98, foo=101574 (bucket 6), zz=3904 (bucket 0 after spread: 3904^0=3904&15=0)
	if got := ToString(m); got != "{zz=0, a=3, b=2, foo=1}" {
		t.Errorf("got %s", got)
	}
}
