package painless

import "testing"

// FuzzCompile: the lexer, parser and checker never panic, and whatever compiles runs to
// a result or an error against a small document.
func FuzzCompile(f *testing.F) {
	for _, s := range []string{
		"ctx._source.n += params.by", "if (ctx._source.a == null) { ctx._source.a = [] } else ctx._source.a.add(1);",
		"int x = 1; long y = x * 2L; ctx._source['k'] = y / 0", "ctx.op = 'delete'", "ctx._source.remove('f')",
		"def m = ['a': 1, 'b': [1, 2.5f, 'x']]; ctx._source.m = m", "'\\a'", "/* x", "ctx._source.a?.b ?: -1",
		"(int) params.x + (long) -2147483648", "0x7fffffff + 010 + 1e3 + .5", "ctx._source.s = !true ? 1 : 2",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		s, err := Compile(src)
		if err != nil {
			if err.Offset < 0 || err.Offset > len(src) || len(err.Stack) != 2 {
				t.Fatalf("bad position %+v", err)
			}
			return
		}
		ctx := NewMap(false)
		source := NewMap(false)
		source.Put("n", int32(1))
		source.Put("l", &List{Elems: []any{int32(1), "x"}})
		ctx.Put("op", "index")
		ctx.Put("_source", source)
		params := NewMap(true)
		params.Put("by", int32(2))
		if err := s.Execute(ctx, params); err != nil && (err.Offset < 0 || err.Offset > len(src)) {
			t.Fatalf("bad runtime position %+v", err)
		}
	})
}
