package painless

import (
	"math"
	"strconv"
	"strings"
	"unicode/utf16"
)

// Script is a compiled update script.
type Script struct {
	src    string
	body   []stmt
	bounds []int // statement starts, for runtime error positions
}

// Compile parses and checks src as an update script, whose variables are ctx and params
// (both java.util.Map). The error is the ScriptException a cluster answers.
func Compile(src string) (s *Script, err *Error) {
	body, perr := parse(src)
	if perr != nil {
		return nil, perr
	}
	c := &checker{src: src, scopes: []map[string]stype{{"ctx": stMap, "params": stMap}}}
	defer func() {
		if r := recover(); r != nil {
			cf, ok := r.(checkFail)
			if !ok {
				panic(r)
			}
			s, err = nil, cf.e
		}
	}()
	c.block(body, 0, blockCtx{})
	return &Script{src: src, body: body, bounds: c.bounds}, nil
}

// rtFail unwinds the evaluator with a runtime error at a source offset.
type rtFail struct {
	at int
	c  Cause
}

type returned struct{}

type frame struct {
	vars   map[string]*slot
	up     *frame
	budget *int // statements loops may still run (CompilerSettings' max_loop_counter)
}

// maxLoopCounter is CompilerSettings.MAX_LOOP_COUNTER's default.
const maxLoopCounter = 1000000

// child is a nested block scope.
func (f *frame) child() *frame { return &frame{vars: map[string]*slot{}, up: f, budget: f.budget} }

// tick charges one loop iteration of a body of n statements (at least 1), failing like
// the loop counter Painless compiles into every loop.
func (f *frame) tick(at, n int) {
	*f.budget -= max(1, n)
	if *f.budget < 0 {
		fail(at, Cause{Type: "painless_error", Reason: "The maximum number of statements that can be executed in a loop has been reached."})
	}
}

// control is how a statement list ended.
type control int

const (
	ctlNormal control = iota
	ctlBreak
	ctlContinue
)

type slot struct {
	typ stype
	v   any
}

func (f *frame) find(name string) *slot {
	for ; f != nil; f = f.up {
		if s, ok := f.vars[name]; ok {
			return s
		}
	}
	return nil
}

// Execute runs the script against ctx and params, which it may change in place.
func (s *Script) Execute(ctx, params *Map) (err *Error) {
	budget := maxLoopCounter
	top := &frame{vars: map[string]*slot{"ctx": {stMap, ctx}, "params": {stMap, params}}, budget: &budget}
	defer func() {
		if r := recover(); r != nil {
			switch x := r.(type) {
			case returned:
			case rtFail:
				err = s.runtimeError(x.at, x.c)
			default:
				panic(r)
			}
		}
	}()
	run(top.child(), s.body)
	return nil
}

func fail(at int, c Cause) { panic(rtFail{at, c}) }

// integerArith is Java's int or long arithmetic (wrapping on overflow, / by zero an
// ArithmeticException); ok is false for an operator that is not arithmetic.
func integerArith[T int32 | int64](at int, op string, a, b T) (T, bool) {
	switch op {
	case "+":
		return a + b, true
	case "-":
		return a - b, true
	case "*":
		return a * b, true
	case "/", "%":
		if b == 0 {
			fail(at, Cause{Type: "arithmetic_exception", Reason: "/ by zero"})
		}
		if op == "/" {
			return a / b, true
		}
		return a % b, true
	}
	return 0, false
}

func run(f *frame, body []stmt) control {
	for _, st := range body {
		switch x := st.(type) {
		case *sExpr:
			eval(f, x.x)
		case *sDecl:
			for _, v := range x.vars {
				var val any
				if v.init != nil {
					val = convert(v.init.at(), eval(f, v.init), x.typ)
				} else {
					val = zero(x.typ)
				}
				f.vars[v.name] = &slot{x.typ, val}
			}
		case *sIf:
			var ctl control
			if truth(x.cond.at(), eval(f, x.cond)) {
				ctl = run(f.child(), x.then)
			} else if x.hasElse {
				ctl = run(f.child(), x.els)
			}
			if ctl != ctlNormal {
				return ctl
			}
		case *sWhile:
			for {
				f.tick(x.pos, len(x.body))
				if !truth(x.cond.at(), eval(f, x.cond)) || run(f.child(), x.body) == ctlBreak {
					break
				}
			}
		case *sDo:
			for {
				f.tick(x.pos, len(x.body))
				if run(f.child(), x.body) == ctlBreak || !truth(x.cond.at(), eval(f, x.cond)) {
					break
				}
			}
		case *sFor:
			lf := f.child()
			if x.init != nil {
				run(lf, []stmt{x.init})
			}
			for {
				f.tick(x.pos, len(x.body))
				if x.cond != nil && !truth(x.cond.at(), eval(lf, x.cond)) {
					break
				}
				if run(lf.child(), x.body) == ctlBreak {
					break
				}
				if x.after != nil {
					eval(lf, x.after)
				}
			}
		case *sEach:
			iterate(f, x)
		case *sBreak:
			return ctlBreak
		case *sContinue:
			return ctlContinue
		case *sReturn:
			panic(returned{})
		}
	}
	return ctlNormal
}

// iterate runs a for-each over a List: ArrayList's iterator, which fails a next() after
// the list was resized under it.
func iterate(f *frame, x *sEach) {
	v := eval(f, x.iter)
	l, ok := v.(*List)
	if !ok {
		if v == nil {
			fail(x.iter.at(), nullDef("iterator"))
		}
		fail(x.iter.at(), iae("Cannot iterate over ["+className(v)+"]"))
	}
	mods := l.Mods
	for i := 0; ; i++ {
		f.tick(x.pos, len(x.body))
		if i >= len(l.Elems) {
			return
		}
		if l.Mods != mods {
			fail(x.pos, Cause{Type: "concurrent_modification_exception", Null: true})
		}
		lf := f.child()
		lf.vars[x.name] = &slot{x.typ, convert(x.namePos, l.Elems[i], x.typ)}
		if run(lf, x.body) == ctlBreak {
			return
		}
	}
}

func zero(t stype) any {
	switch t {
	case stInt:
		return int32(0)
	case stLong:
		return int64(0)
	case stFloat:
		return float32(0)
	case stDouble:
		return float64(0)
	case stBool:
		return false
	}
	return nil
}

// convert casts a value into a variable or target of static type t (implicit casts;
// from def they are checked here, at run time, as Def.defTo*Implicit does).
func convert(at int, v any, t stype) any {
	switch t {
	case stDef:
		return v
	case stInt, stLong, stFloat, stDouble:
		if v == nil {
			fail(at, npeGetClass("value"))
		}
		k := numKind(v)
		if _, big := v.(BigInt); k == nkNone || big || k > t.nk() {
			fail(at, cce("cannot implicitly cast def ["+unboxedName(v)+"] to "+t.canonical()))
		}
		return toKind(v, t.nk())
	case stBool:
		if v == nil {
			fail(at, npeGetClass("value"))
		}
		if _, ok := v.(bool); !ok {
			fail(at, cce("cannot implicitly cast def ["+unboxedName(v)+"] to boolean"))
		}
		return v
	case stString:
		if _, ok := v.(string); !ok && v != nil {
			fail(at, jdkCast(className(v), "java.lang.String"))
		}
	case stList, stArrayList:
		if _, ok := v.(*List); !ok && v != nil {
			fail(at, jdkCast(className(v), "java.util."+shortName(t)))
		}
	case stMap, stHashMap:
		if _, ok := v.(*Map); !ok && v != nil {
			fail(at, jdkCast(className(v), "java.util."+shortName(t)))
		}
	}
	return v
}

func truth(at int, v any) bool {
	return convert(at, v, stBool).(bool)
}

func eval(f *frame, e expr) any {
	switch x := e.(type) {
	case *eLit:
		return x.v
	case *eVar:
		return f.find(x.name).v
	case *eField:
		recv := eval(f, x.x)
		if recv == nil && x.nullSafe {
			return nil
		}
		return load(x.pos, recv, x.name)
	case *eIndex:
		recv := eval(f, x.x)
		return loadIndex(x.pos, recv, eval(f, x.idx))
	case *eCall:
		recv := eval(f, x.x)
		if recv == nil && x.nullSafe {
			return nil
		}
		args := make([]any, len(x.args))
		for i, a := range x.args {
			args[i] = eval(f, a)
		}
		return call(x.pos, recv, x.name, args)
	case *eNew:
		if len(x.args) == 1 {
			a := eval(f, x.args[0])
			if x.typ == "ArrayList" {
				l, ok := a.(*List)
				if !ok {
					failArgCast(x.pos, a, "java.util.Collection")
				}
				return &List{Elems: append([]any(nil), l.Elems...)}
			}
			m, ok := a.(*Map)
			if !ok {
				failArgCast(x.pos, a, "java.util.Map")
			}
			out := NewMap(true)
			m.Range(func(k, v any) { out.Put(k, v) })
			return out
		}
		if x.typ == "ArrayList" {
			return &List{}
		}
		return NewMap(true)
	case *eListInit:
		l := &List{}
		for _, el := range x.elems {
			l.Elems = append(l.Elems, eval(f, el))
		}
		return l
	case *eMapInit:
		m := NewMap(true)
		for i := range x.keys {
			k := eval(f, x.keys[i])
			m.Put(k, eval(f, x.vals[i]))
		}
		return m
	case *eUnary:
		if l, ok := x.x.(*eLit); ok && x.op == "-" && (l.kind == "numeric" || l.kind == "decimal") {
			return l.v // folded into the constant by the checker
		}
		v := eval(f, x.x)
		switch x.op {
		case "!":
			return !truth(x.x.at(), v)
		case "-":
			return negate(x.pos, v)
		}
		if v == nil {
			fail(x.pos, npeGetClass("unary"))
		}
		if !isNumber(v) {
			fail(x.pos, cce("Cannot apply [+] operation to type ["+className(v)+"]."))
		}
		return toKind(v, max(numKind(v), nkInt))
	case *eBinary:
		switch x.op {
		case "&&":
			return truth(x.l.at(), eval(f, x.l)) && truth(x.r.at(), eval(f, x.r))
		case "||":
			return truth(x.l.at(), eval(f, x.l)) || truth(x.r.at(), eval(f, x.r))
		}
		return binop(x.pos, x.op, eval(f, x.l), eval(f, x.r))
	case *eCond:
		if truth(x.c.at(), eval(f, x.c)) {
			return eval(f, x.a)
		}
		return eval(f, x.b)
	case *eElvis:
		if v := eval(f, x.l); v != nil {
			return v
		}
		return eval(f, x.r)
	case *eAssign:
		return assign(f, x)
	case *eIncDec:
		old := loadTarget(f, x.target)
		nv := compound(x.pos, "+", old, x.delta)
		store(f, x.target, nv)
		if x.prefix {
			return nv
		}
		return old
	case *eCast:
		return explicitCast(x.pos, eval(f, x.x), x.typ)
	case *eInstanceof:
		v := eval(f, x.x)
		switch x.typ {
		case stList, stArrayList:
			_, ok := v.(*List)
			return ok
		case stMap, stHashMap:
			_, ok := v.(*Map)
			return ok
		case stString:
			_, ok := v.(string)
			return ok
		case stBool:
			_, ok := v.(bool)
			return ok
		}
		return v != nil && numKind(v) == x.typ.nk()
	}
	return nil
}

func failArgCast(at int, v any, to string) {
	if v == nil {
		fail(at, npe("null"))
	}
	fail(at, jdkCast(className(v), to))
}

func explicitCast(at int, v any, t stype) any {
	switch t {
	case stInt, stLong, stFloat, stDouble:
		if v == nil {
			fail(at, npeGetClass("value"))
		}
		if !isNumber(v) {
			fail(at, cce("cannot explicitly cast def ["+unboxedName(v)+"] to "+t.canonical()))
		}
		return toKind(v, t.nk())
	}
	return convert(at, v, t)
}

func negate(at int, v any) any {
	switch x := v.(type) {
	case nil:
		fail(at, npeGetClass("unary"))
	case int32:
		return -x
	case int64:
		return -x
	case float32:
		return -x
	case float64:
		return -x
	case BigInt:
		return -int32(asInt64(x))
	}
	fail(at, cce("Cannot apply [-] operation to type ["+className(v)+"]."))
	return nil
}

// targets: variables, fields and brace accesses

func loadTarget(f *frame, t expr) any {
	return eval(f, t)
}

func store(f *frame, t expr, v any) {
	switch x := t.(type) {
	case *eVar:
		s := f.find(x.name)
		s.v = convert(x.pos, v, s.typ)
	case *eField:
		recv := eval(f, x.x)
		storeField(x.pos, recv, x.name, v)
	case *eIndex:
		recv := eval(f, x.x)
		storeIndex(x.pos, recv, eval(f, x.idx), v)
	}
}

func assign(f *frame, x *eAssign) any {
	// receivers and indexes are evaluated once, before the value, as Painless does
	switch t := x.target.(type) {
	case *eField:
		recv := eval(f, t.x)
		var nv any
		if x.op == "=" {
			nv = eval(f, x.val)
		} else {
			old := load(t.pos, recv, t.name)
			nv = compound(x.pos, x.op, old, eval(f, x.val))
		}
		storeField(t.pos, recv, t.name, nv)
		return nv
	case *eIndex:
		recv := eval(f, t.x)
		idx := eval(f, t.idx)
		var nv any
		if x.op == "=" {
			nv = eval(f, x.val)
		} else {
			old := loadIndex(t.pos, recv, idx)
			nv = compound(x.pos, x.op, old, eval(f, x.val))
		}
		storeIndex(t.pos, recv, idx, nv)
		return nv
	case *eVar:
		s := f.find(t.name)
		var nv any
		if x.op == "=" {
			nv = eval(f, x.val)
		} else {
			nv = compound(x.pos, x.op, s.v, eval(f, x.val))
		}
		s.v = convert(x.val.at(), nv, s.typ)
		return s.v
	}
	return nil
}

// compound is a compound assignment's operator: the result is cast back to the class of
// the old value (DefMath.dynamicCast), so an Integer field stays an Integer.
func compound(at int, op string, old, val any) any {
	r := binop(at, op, old, val)
	if old == nil {
		return r
	}
	if k := numKind(old); k != nkNone {
		if _, big := old.(BigInt); big {
			return r
		}
		if !isNumber(r) {
			fail(at, cce("Cannot cast "+className(r)+" to "+className(old)))
		}
		return toKind(r, k)
	}
	return r
}

func binop(at int, op string, l, r any) any {
	switch op {
	case "==":
		return defEquals(l, r)
	case "!=":
		return !defEquals(l, r)
	case "+":
		_, ls := l.(string)
		_, rs := r.(string)
		if ls || rs {
			return ToString(l) + ToString(r)
		}
	}
	lk, rk := numKind(l), numKind(r)
	if lk == nkNone || rk == nkNone {
		// DefMath's generic path reports the classes of both operands, calling getClass()
		// on a null one
		if l == nil {
			fail(at, npeGetClass("left"))
		}
		if lk != nkNone && r == nil {
			fail(at, npeGetClass("right"))
		}
		if lb, ok := l.(bool); ok {
			if _, ok := r.(bool); ok {
				_ = lb
				if op == "<" || op == "<=" || op == ">" || op == ">=" {
					fail(at, cce("Cannot apply ["+op+"] operation to types [boolean] and [boolean]."))
				}
				fail(at, cce("Cannot apply ["+op+"] operation to type [boolean]"))
			}
		}
		if r == nil {
			fail(at, npeGetClass("right"))
		}
		fail(at, cce("Cannot apply ["+op+"] operation to types ["+className(l)+"] and ["+className(r)+"]."))
	}
	k := max(lk, rk, nkInt)
	switch k {
	case nkInt:
		a, b := int32(asInt64(l)), int32(asInt64(r))
		if v, ok := integerArith(at, op, a, b); ok {
			return v
		}
		return compare(op, float64(0), float64(0), int64(a), int64(b), true)
	case nkLong:
		a, b := asInt64(l), asInt64(r)
		if v, ok := integerArith(at, op, a, b); ok {
			return v
		}
		return compare(op, 0, 0, a, b, true)
	case nkFloat:
		a, b := float32(asFloat64(l)), float32(asFloat64(r))
		switch op {
		case "+":
			return a + b
		case "-":
			return a - b
		case "*":
			return a * b
		case "/":
			return a / b
		case "%":
			return float32(math.Mod(float64(a), float64(b)))
		}
		return compare(op, float64(a), float64(b), 0, 0, false)
	}
	a, b := asFloat64(l), asFloat64(r)
	switch op {
	case "+":
		return a + b
	case "-":
		return a - b
	case "*":
		return a * b
	case "/":
		return a / b
	case "%":
		return math.Mod(a, b)
	}
	return compare(op, a, b, 0, 0, false)
}

func compare(op string, fa, fb float64, ia, ib int64, ints bool) bool {
	if ints {
		switch op {
		case "<":
			return ia < ib
		case "<=":
			return ia <= ib
		case ">":
			return ia > ib
		}
		return ia >= ib
	}
	switch op {
	case "<":
		return fa < fb
	case "<=":
		return fa <= fb
	case ">":
		return fa > fb
	}
	return fa >= fb
}

// defEquals is DefMath.eq: numbers compare by value after promotion, everything else
// with equals.
func defEquals(l, r any) bool {
	if l == nil || r == nil {
		return l == nil && r == nil
	}
	lk, rk := numKind(l), numKind(r)
	if lk != nkNone && rk != nkNone {
		switch max(lk, rk) {
		case nkDouble, nkFloat:
			return asFloat64(l) == asFloat64(r)
		}
		return asInt64(l) == asInt64(r)
	}
	return javaEquals(l, r)
}

// member access

func load(at int, recv any, name string) any {
	switch x := recv.(type) {
	case nil:
		fail(at, nullDef(name))
	case *Map:
		v, _ := x.Get(name)
		return v
	case *List:
		if i, err := strconv.Atoi(name); err == nil {
			return listGet(at, x, int64(i))
		}
		if name == "empty" {
			return len(x.Elems) == 0
		}
	case string:
		if name == "empty" {
			return x == ""
		}
	}
	fail(at, iae("dynamic getter ["+className(recv)+", "+name+"] not found"))
	return nil
}

func storeField(at int, recv any, name string, v any) {
	switch x := recv.(type) {
	case nil:
		fail(at, nullDef(name))
	case *Map:
		x.Put(name, v)
		return
	case *List:
		if i, err := strconv.Atoi(name); err == nil {
			listSet(at, x, int64(i), v)
			return
		}
	}
	fail(at, iae("dynamic setter ["+className(recv)+", "+name+"] not found"))
}

func indexOf(at int, l *List, idx any) int64 {
	if idx == nil {
		fail(at, npe("null"))
	}
	i, ok := idx.(int32)
	if !ok {
		fail(at, cce("Cannot cast "+className(idx)+" to java.lang.Integer"))
	}
	n := int64(i)
	if n < 0 {
		n += int64(len(l.Elems)) // Def.normalizeIndex: negative indexes count from the end
	}
	return n
}

func loadIndex(at int, recv, idx any) any {
	switch x := recv.(type) {
	case nil:
		fail(at, nullDef("normalizeIndex"))
	case *Map:
		v, _ := x.Get(idx)
		return v
	case *List:
		return listGet(at, x, indexOf(at, x, idx))
	}
	fail(at, iae("Attempting to address a non-array-like type ["+className(recv)+"] as an array."))
	return nil
}

func storeIndex(at int, recv, idx, v any) {
	switch x := recv.(type) {
	case nil:
		fail(at, nullDef("normalizeIndex"))
	case *Map:
		x.Put(idx, v)
		return
	case *List:
		listSet(at, x, indexOf(at, x, idx), v)
		return
	}
	fail(at, iae("Attempting to address a non-array-like type ["+className(recv)+"] as an array."))
}

func outOfBounds(at int, i int64, n int) {
	fail(at, Cause{Type: "index_out_of_bounds_exception", Reason: "Index " + strconv.FormatInt(i, 10) + " out of bounds for length " + strconv.Itoa(n)})
}

func listGet(at int, l *List, i int64) any {
	if i < 0 || i >= int64(len(l.Elems)) {
		outOfBounds(at, i, len(l.Elems))
	}
	return l.Elems[i]
}

func listSet(at int, l *List, i int64, v any) any {
	if i < 0 || i >= int64(len(l.Elems)) {
		outOfBounds(at, i, len(l.Elems))
	}
	old := l.Elems[i]
	l.Elems[i] = v
	return old
}

// intArg converts a def argument to an int parameter (MethodHandle unboxing).
func intArg(at int, v any) int64 {
	switch x := v.(type) {
	case nil:
		fail(at, npe("null"))
	case int32:
		return int64(x)
	}
	fail(at, cce("Cannot cast "+className(v)+" to java.lang.Integer"))
	return 0
}

func strArg(at int, v any) string {
	s, ok := v.(string)
	if !ok {
		if v == nil {
			fail(at, npe("null"))
		}
		fail(at, cce("Cannot cast "+className(v)+" to java.lang.String"))
	}
	return s
}

func call(at int, recv any, name string, args []any) any {
	key := name + "/" + strconv.Itoa(len(args))
	switch key {
	case "toString/0":
		if recv == nil {
			fail(at, nullDef(name))
		}
		return ToString(recv)
	case "equals/1":
		if recv == nil {
			fail(at, nullDef(name))
		}
		return javaEquals(recv, args[0])
	}
	switch x := recv.(type) {
	case nil:
		fail(at, nullDef(name))
	case *Map:
		if v, ok := mapCall(at, x, key, args); ok {
			return v
		}
	case *List:
		if v, ok := listCall(at, x, key, args); ok {
			return v
		}
	case string:
		if v, ok := stringCall(at, x, key, args); ok {
			return v
		}
	case int32, int64, float32, float64:
		switch key {
		case "intValue/0":
			return toKind(x, nkInt)
		case "longValue/0":
			return toKind(x, nkLong)
		case "doubleValue/0":
			return toKind(x, nkDouble)
		case "floatValue/0":
			return toKind(x, nkFloat)
		}
	case bool:
		if key == "booleanValue/0" {
			return x
		}
	}
	if unmodelled[name] {
		fail(at, unsupported("the method ["+key+"]"))
	}
	fail(at, iae("dynamic method ["+className(recv)+", "+key+"] not found"))
	return nil
}

// unmodelled are methods Painless's whitelist and augmentations give lists, maps,
// strings and numbers that the subset does not implement: calling one is an error that
// says so, not the "not found" a cluster would never answer.
var unmodelled = map[string]bool{
	// Collection, List, ArrayList and their augmentations
	"iterator": true, "listIterator": true, "stream": true, "forEach": true, "removeIf": true, "sort": true,
	"subList": true, "toArray": true, "containsAll": true, "removeAll": true, "retainAll": true, "replaceAll": true,
	"hashCode": true, "getLength": true, "any": true, "asCollection": true, "asList": true, "each": true,
	"every": true, "findResults": true, "groupBy": true, "join": true, "sum": true, "collect": true, "find": true,
	"findAll": true, "findResult": true, "split": true, "ensureCapacity": true, "trimToSize": true, "clone": true,
	"spliterator": true, "count": true,
	// Map and its augmentations
	"keySet": true, "values": true, "entrySet": true, "compute": true, "computeIfAbsent": true,
	"computeIfPresent": true, "merge": true, "replace": true,
	// String and its augmentations
	"charAt": true, "codePointAt": true, "codePointBefore": true, "codePointCount": true, "compareTo": true,
	"compareToIgnoreCase": true, "concat": true, "contentEquals": true, "equalsIgnoreCase": true,
	"regionMatches": true, "subSequence": true, "toCharArray": true, "chars": true, "codePoints": true,
	"decodeBase64": true, "encodeBase64": true, "splitOnToken": true, "offsetByCodePoints": true,
	"lastIndexOf": true, "indexOf": true, "startsWith": true, "isBlank": true, "strip": true,
	// Number
	"byteValue": true, "shortValue": true,
}

func mapCall(at int, m *Map, key string, a []any) (any, bool) {
	switch key {
	case "get/1":
		v, _ := m.Get(a[0])
		return v, true
	case "put/2":
		return m.Put(a[0], a[1]), true
	case "remove/1":
		return m.Remove(a[0]), true
	case "containsKey/1":
		_, ok := m.Get(a[0])
		return ok, true
	case "containsValue/1":
		for _, e := range m.entries {
			if javaEquals(e.v, a[0]) {
				return true, true
			}
		}
		return false, true
	case "size/0":
		return int32(len(m.entries)), true
	case "isEmpty/0":
		return len(m.entries) == 0, true
	case "getOrDefault/2":
		if v, ok := m.Get(a[0]); ok {
			return v, true
		}
		return a[1], true
	case "putIfAbsent/2":
		if v, ok := m.Get(a[0]); ok && v != nil {
			return v, true
		}
		return m.Put(a[0], a[1]), true
	case "clear/0":
		m.entries = nil
		return nil, true
	case "putAll/1":
		o, ok := a[0].(*Map)
		if !ok {
			failArgCast(at, a[0], "java.util.Map")
		}
		for _, e := range o.ordered() {
			m.Put(e.k, e.v)
		}
		return nil, true
	}
	return nil, false
}

func listCall(at int, l *List, key string, a []any) (any, bool) {
	switch key {
	case "add/1":
		l.Mods++
		l.Elems = append(l.Elems, a[0])
		return true, true
	case "add/2":
		i := intArg(at, a[0])
		if i < 0 || i > int64(len(l.Elems)) {
			fail(at, Cause{Type: "index_out_of_bounds_exception", Reason: "Index: " + strconv.FormatInt(i, 10) + ", Size: " + strconv.Itoa(len(l.Elems))})
		}
		l.Mods++
		l.Elems = append(l.Elems[:i], append([]any{a[1]}, l.Elems[i:]...)...)
		return nil, true
	case "get/1":
		return listGet(at, l, intArg(at, a[0])), true
	case "set/2":
		return listSet(at, l, intArg(at, a[0]), a[1]), true
	case "remove/1":
		// List.remove(int) shadows Collection.remove(Object) in Painless's whitelist
		i := intArg(at, a[0])
		old := listGet(at, l, i)
		l.Mods++
		l.Elems = append(l.Elems[:i], l.Elems[i+1:]...)
		return old, true
	case "contains/1", "indexOf/1", "lastIndexOf/1":
		idx := -1
		for i, e := range l.Elems {
			if javaEquals(e, a[0]) {
				idx = i
				if key != "lastIndexOf/1" {
					break
				}
			}
		}
		if key == "contains/1" {
			return idx >= 0, true
		}
		return int32(idx), true
	case "size/0":
		return int32(len(l.Elems)), true
	case "isEmpty/0":
		return len(l.Elems) == 0, true
	case "clear/0":
		l.Mods++
		l.Elems = nil
		return nil, true
	case "addAll/1":
		o, ok := a[0].(*List)
		if !ok {
			failArgCast(at, a[0], "java.util.Collection")
		}
		l.Mods++
		l.Elems = append(l.Elems, o.Elems...)
		return len(o.Elems) > 0, true
	}
	return nil, false
}

func stringCall(at int, s string, key string, a []any) (any, bool) {
	switch key {
	case "length/0":
		return int32(len(utf16.Encode([]rune(s)))), true
	case "isEmpty/0":
		return s == "", true
	case "contains/1":
		return strings.Contains(s, strArg(at, a[0])), true
	case "startsWith/1":
		return strings.HasPrefix(s, strArg(at, a[0])), true
	case "endsWith/1":
		return strings.HasSuffix(s, strArg(at, a[0])), true
	case "toLowerCase/0":
		return strings.ToLower(s), true
	case "toUpperCase/0":
		return strings.ToUpper(s), true
	case "trim/0":
		return strings.TrimFunc(s, func(r rune) bool { return r <= ' ' }), true
	case "replace/2":
		return strings.ReplaceAll(s, strArg(at, a[0]), strArg(at, a[1])), true
	case "indexOf/1":
		u := utf16.Encode([]rune(s))
		n := utf16.Encode([]rune(strArg(at, a[0])))
		for i := 0; i+len(n) <= len(u); i++ {
			if equalUnits(u[i:i+len(n)], n) {
				return int32(i), true
			}
		}
		return int32(-1), true
	case "substring/1", "substring/2":
		u := utf16.Encode([]rune(s))
		b := intArg(at, a[0])
		e := int64(len(u))
		if len(a) == 2 {
			e = intArg(at, a[1])
		}
		if b < 0 || e > int64(len(u)) || b > e {
			fail(at, Cause{Type: "string_index_out_of_bounds_exception", Reason: "begin " + strconv.FormatInt(b, 10) + ", end " + strconv.FormatInt(e, 10) + ", length " + strconv.Itoa(len(u))})
		}
		return string(utf16.Decode(u[b:e])), true
	}
	return nil, false
}

func equalUnits(a, b []uint16) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
