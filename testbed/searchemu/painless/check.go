package painless

import (
	"math"
	"strconv"
	"strings"
)

// checker is the semantic pass: it resolves variables, gives every expression its
// static type and rejects, as Painless's DefaultSemanticAnalysisPhase does at compile
// time, what would never run: unknown symbols, values not used as statements,
// assignments to non-variables, casts between unrelated static types.
type checker struct {
	src    string
	scopes []map[string]stype
	bounds []int
	loops  int // depth of enclosing loops
	// readOnly are the for-each variables in scope, which cannot be assigned
	readOnly []string
}

type checkFail struct{ e *Error }

func (c *checker) fail(at int, cause Cause) {
	panic(checkFail{compileError(c.src, at, cause)})
}

func (c *checker) lookup(name string) (stype, bool) {
	for i := len(c.scopes) - 1; i >= 0; i-- {
		if t, ok := c.scopes[i][name]; ok {
			return t, true
		}
	}
	return 0, false
}

// flow is what DefaultSemanticAnalysisPhase's escape conditions record of a statement:
// whether it leaves the method (MethodEscape), the loop (LoopEscape), the block
// (AllEscape), and whether it contains a continue or a break.
type flow struct{ method, loop, all, cont, brk bool }

// blockCtx is a block's inherited conditions: InLoop, and BeginLoop/LastLoop (its last
// statement is the last of a loop body, where a continue is extraneous).
type blockCtx struct{ inLoop, lastLoop bool }

// block visits a block (visitBlock): a statement after one that leaves the block is
// unreachable; the block leaves the method or loop as its last statement does.
func (c *checker) block(body []stmt, pos int, bc blockCtx) flow {
	c.scopes = append(c.scopes, map[string]stype{})
	defer func() { c.scopes = c.scopes[:len(c.scopes)-1] }()
	var f flow
	for i, s := range body {
		last := i == len(body)-1
		sf := c.stmt(s, blockCtx{inLoop: bc.inLoop, lastLoop: last && bc.lastLoop})
		if !last && sf.all {
			c.fail(pos, iae("invalid block: unreachable statement"))
		}
		if last {
			f.method, f.loop = sf.method, sf.loop
		}
		f.cont = f.cont || sf.cont
		f.brk = f.brk || sf.brk
	}
	return f
}

// loopBody visits a loop's body (BeginLoop, InLoop) and rejects a body that always
// leaves the loop without a continue: the loop is extraneous.
func (c *checker) loopBody(body []stmt, pos, at int, kind string) flow {
	c.loops++
	f := c.block(body, pos, blockCtx{inLoop: true, lastLoop: true})
	c.loops--
	if f.loop && !f.cont {
		c.fail(at, iae("extraneous "+kind+" loop"))
	}
	return f
}

func boolConst(e expr) (bool, bool) {
	if l, ok := e.(*eLit); ok && l.kind == "boolean" {
		return l.v.(bool), true
	}
	return false, false
}

func (c *checker) stmt(s stmt, bc blockCtx) flow {
	switch x := s.(type) {
	case *sExpr:
		c.bounds = append(c.bounds, x.pos)
		c.statementExpr(x.x)
	case *sDecl:
		for _, v := range x.vars {
			c.bounds = append(c.bounds, v.pos)
			if v.init != nil {
				t := c.expr(v.init)
				c.assignable(v.init.at(), t, x.typ)
			}
			if _, ok := c.lookup(v.name); ok {
				c.fail(v.pos, iae("variable ["+v.name+"] is already defined"))
			}
			c.scopes[len(c.scopes)-1][v.name] = x.typ
		}
	case *sIf:
		c.bounds = append(c.bounds, x.pos)
		c.condition(x.cond)
		if _, konst := boolConst(x.cond); konst || len(x.then) == 0 {
			c.fail(x.pos, iae("extraneous if block"))
		}
		a := c.block(x.then, x.thenPos, bc)
		if !x.hasElse {
			return flow{cont: a.cont, brk: a.brk}
		}
		if len(x.els) == 0 {
			c.fail(x.pos, iae("extraneous else block."))
		}
		b := c.block(x.els, x.elsePos, bc)
		return flow{method: a.method && b.method, loop: a.loop && b.loop, all: a.all && b.all, cont: a.cont || b.cont, brk: a.brk || b.brk}
	case *sWhile:
		c.bounds = append(c.bounds, x.pos)
		c.condition(x.cond)
		v, konst := boolConst(x.cond)
		if konst && !v {
			c.fail(x.pos, iae("extraneous while loop"))
		}
		if konst && len(x.body) == 0 {
			c.fail(x.pos, iae("no paths escape from while loop"))
		}
		if len(x.body) > 0 {
			f := c.loopBody(x.body, x.bodyPos, x.pos, "while")
			if konst && !f.brk {
				return flow{method: true, all: true}
			}
		}
	case *sDo:
		c.bounds = append(c.bounds, x.pos)
		if len(x.body) == 0 {
			c.fail(x.pos, iae("extraneous do-while loop"))
		}
		f := c.loopBody(x.body, x.bodyPos, x.pos, "do-while")
		c.condition(x.cond)
		if v, konst := boolConst(x.cond); konst {
			if !v {
				c.fail(x.pos, iae("extraneous do-while loop"))
			}
			if !f.brk {
				return flow{method: true, all: true}
			}
		}
	case *sFor:
		c.bounds = append(c.bounds, x.pos)
		c.scopes = append(c.scopes, map[string]stype{})
		defer func() { c.scopes = c.scopes[:len(c.scopes)-1] }()
		switch in := x.init.(type) {
		case *sDecl:
			c.stmt(in, bc)
		case *sExpr:
			c.expr(in.x) // an initializer expression need not be a statement
		}
		continuous := x.cond == nil
		if x.cond != nil {
			c.condition(x.cond)
			if v, konst := boolConst(x.cond); konst {
				if !v {
					c.fail(x.pos, iae("extraneous for loop"))
				}
				if len(x.body) == 0 {
					c.fail(x.pos, iae("no paths escape from for loop"))
				}
				continuous = true
			}
		}
		if x.after != nil {
			c.expr(x.after)
		}
		if len(x.body) > 0 {
			f := c.loopBody(x.body, x.bodyPos, x.pos, "for")
			if continuous && !f.brk {
				return flow{method: true, all: true}
			}
		}
	case *sEach:
		c.bounds = append(c.bounds, x.pos)
		it := c.expr(x.iter)
		if _, ok := c.lookup(x.name); ok {
			c.fail(x.pos, iae("variable ["+x.name+"] is already defined"))
		}
		if len(x.body) == 0 {
			c.fail(x.pos, iae("extraneous foreach loop"))
		}
		c.scopes = append(c.scopes, map[string]stype{x.name: x.typ})
		c.readOnly = append(c.readOnly, x.name)
		c.loopBody(x.body, x.bodyPos, x.pos, "foreach")
		c.readOnly = c.readOnly[:len(c.readOnly)-1]
		c.scopes = c.scopes[:len(c.scopes)-1]
		switch it {
		case stDef, stList, stArrayList:
		default:
			c.fail(x.pos, iae("invalid foreach loop: cannot iterate over type ["+it.canonical()+"]."))
		}
	case *sBreak:
		c.bounds = append(c.bounds, x.pos)
		if !bc.inLoop {
			c.fail(x.pos, iae("invalid break statement: not inside loop"))
		}
		return flow{all: true, loop: true, brk: true}
	case *sContinue:
		c.bounds = append(c.bounds, x.pos)
		if !bc.inLoop {
			c.fail(x.pos, iae("invalid continue statement: not inside loop"))
		}
		if bc.lastLoop {
			c.fail(x.pos, iae("extraneous continue statement"))
		}
		return flow{all: true, cont: true}
	case *sReturn:
		c.bounds = append(c.bounds, x.pos)
		if x.x != nil {
			// UpdateScript.execute is void: the value's cast to void fails (visitReturn)
			if l, ok := x.x.(*eLit); ok && l.kind == "null" {
				c.fail(x.x.at(), cce("Cannot cast null to a primitive type [void]."))
			}
			t := c.expr(x.x)
			c.fail(x.x.at(), castError(t, stVoid))
		}
		return flow{method: true, loop: true, all: true}
	}
	return flow{}
}

func (c *checker) condition(e expr) {
	t := c.expr(e)
	if t != stDef && t != stBool {
		c.fail(e.at(), castError(t, stBool))
	}
}

// statementExpr checks an expression used as a statement: only assignments, increments,
// calls and constructors may be.
func (c *checker) statementExpr(e expr) {
	switch e.(type) {
	case *eAssign, *eIncDec, *eCall, *eNew:
		c.expr(e)
		return
	case *eVar:
		c.expr(e)
	}
	c.fail(e.at(), iae("not a statement: "+notUsed(e)))
}

// describe names an expression the way Painless's not-a-statement and invalid-assignment
// messages do.
func describe(e expr) string {
	switch x := e.(type) {
	case *eLit:
		switch x.kind {
		case "null":
			return "null constant"
		case "string", "boolean", "numeric", "decimal":
			return x.kind + " constant [" + x.text + "]"
		}
	case *eVar:
		return "variable [" + x.name + "]"
	case *eBinary:
		return opName(x.op) + " operation [" + x.op + "]"
	case *eUnary:
		return opName(x.op) + " operation [" + x.op + "]"
	case *eCond:
		return "conditional operation [?:]"
	case *eElvis:
		return "elvis operation [?:]"
	case *eCast:
		return "explicit cast with target type [" + shortName(x.typ) + "]"
	case *eInstanceof:
		return "instanceof with target type [" + shortName(x.typ) + "]"
	case *eListInit:
		return "list initializer"
	case *eMapInit:
		return "map initializer"
	case *eCall:
		return "method call [" + x.name + "/" + strconv.Itoa(len(x.args)) + "]"
	}
	return "expression"
}

func notUsed(e expr) string {
	switch x := e.(type) {
	case *eLit, *eVar:
		return describe(e) + " not used"
	case *eIndex:
		return "result of brace operator not used"
	case *eField:
		return "result of dot operator [.] not used"
	default:
		_ = x
	}
	return "result not used from " + describe(e)
}

func shortName(t stype) string {
	s := t.canonical()
	if i := strings.LastIndexByte(s, '.'); i >= 0 {
		return s[i+1:]
	}
	return s
}

func opName(op string) string {
	switch op {
	case "*":
		return "multiplication"
	case "/":
		return "division"
	case "%":
		return "remainder"
	case "+":
		return "addition"
	case "-":
		return "subtraction"
	case "==":
		return "equals"
	case "!=":
		return "not equals"
	case "<":
		return "less than"
	case "<=":
		return "less than or equals"
	case ">":
		return "greater than"
	case ">=":
		return "greater than or equals"
	case "&&":
		return "boolean and"
	case "||":
		return "boolean or"
	case "!":
		return "boolean not"
	}
	return op
}

func castError(from, to stype) Cause {
	if from == stNull && to.primitive() {
		return cce("Cannot cast null to a primitive type [" + to.canonical() + "].")
	}
	return cce("Cannot cast from [" + from.canonical() + "] to [" + to.canonical() + "].")
}

// implicitOK reports whether Painless casts from to to without an explicit cast.
func implicitOK(from, to stype) bool {
	switch {
	case from == to, to == stDef, from == stDef:
		return true
	case from == stNull:
		return !to.primitive()
	case from.numeric() && to.numeric():
		return to.nk() >= from.nk()
	case from == stArrayList && to == stList, from == stHashMap && to == stMap:
		return true
	}
	return false
}

func explicitOK(from, to stype) bool {
	switch {
	case implicitOK(from, to):
		return true
	case from.numeric() && to.numeric():
		return true
	case from == stList && to == stArrayList, from == stMap && to == stHashMap:
		return true
	}
	return false
}

func (c *checker) assignable(at int, from, to stype) {
	if !implicitOK(from, to) {
		c.fail(at, castError(from, to))
	}
}

func (c *checker) expr(e expr) stype {
	switch x := e.(type) {
	case *eLit:
		return c.literal(x, false)
	case *eVar:
		t, ok := c.lookup(x.name)
		if !ok {
			c.fail(x.pos, iae("cannot resolve symbol ["+x.name+"]"))
		}
		x.typ = t
		return t
	case *eField:
		rt := c.expr(x.x)
		return c.member(x.pos, rt, x.name)
	case *eIndex:
		rt := c.expr(x.x)
		c.expr(x.idx)
		switch rt {
		case stDef, stMap, stHashMap, stList, stArrayList:
			return stDef
		}
		c.fail(x.pos, iae("Illegal array access on type ["+rt.canonical()+"]."))
	case *eCall:
		rt := c.expr(x.x)
		for _, a := range x.args {
			c.expr(a)
		}
		return c.method(x, rt)
	case *eNew:
		for _, a := range x.args {
			c.expr(a)
		}
		if len(x.args) > 1 {
			c.fail(x.pos, iae("constructor [java.util."+x.typ+", <init>/"+strconv.Itoa(len(x.args))+"] not found"))
		}
		if x.typ == "ArrayList" {
			return stArrayList
		}
		return stHashMap
	case *eListInit:
		for _, el := range x.elems {
			c.expr(el)
		}
		return stArrayList
	case *eMapInit:
		for i := range x.keys {
			c.expr(x.keys[i])
			c.expr(x.vals[i])
		}
		return stHashMap
	case *eUnary:
		if l, ok := x.x.(*eLit); ok && x.op == "-" && (l.kind == "numeric" || l.kind == "decimal") {
			return c.literal(l, true)
		}
		t := c.expr(x.x)
		if x.op == "!" {
			if t != stDef && t != stBool {
				c.fail(x.x.at(), castError(t, stBool))
			}
			return stBool
		}
		switch {
		case t == stDef:
			return stDef
		case t.numeric():
			return nkType(max(t.nk(), nkInt))
		}
		c.fail(x.pos, cce("Cannot apply ["+x.op+"] operation to type ["+t.canonical()+"]."))
	case *eBinary:
		return c.binary(x)
	case *eCond:
		c.condition(x.c)
		a, b := c.expr(x.a), c.expr(x.b)
		switch {
		case a == b:
			return a
		case a.numeric() && b.numeric():
			return nkType(max(a.nk(), b.nk()))
		}
		return stDef
	case *eElvis:
		a := c.expr(x.l)
		b := c.expr(x.r)
		if a.primitive() {
			c.fail(x.pos, iae("Elvis operator cannot return primitives"))
		}
		if a == b {
			return a
		}
		return stDef
	case *eAssign:
		return c.assign(x)
	case *eIncDec:
		t := c.target(x.target, x.pos)
		if t != stDef && !t.numeric() {
			c.fail(x.pos, cce("Cannot apply [+] operation to types ["+t.canonical()+"] and [int]."))
		}
		return t
	case *eCast:
		t := c.expr(x.x)
		if !explicitOK(t, x.typ) {
			c.fail(x.pos, castError(t, x.typ))
		}
		return x.typ
	case *eInstanceof:
		c.expr(x.x)
		return stBool
	}
	return stDef
}

// literal parses a numeric constant (negated when it follows a unary minus, which
// Painless folds into the constant).
func (c *checker) literal(x *eLit, neg bool) stype {
	switch x.kind {
	case "string":
		return stString
	case "boolean":
		return stBool
	case "null":
		return stNull
	case "decimal":
		text := x.text
		last := text[len(text)-1]
		if neg {
			text = "-" + text
		}
		if last == 'f' || last == 'F' {
			f, err := strconv.ParseFloat(text[:len(text)-1], 32)
			if err != nil && !math.IsInf(f, 0) {
				c.fail(x.pos, iae("Invalid float constant ["+text+"]."))
			}
			x.v = float32(f)
			return stFloat
		}
		if last == 'd' || last == 'D' {
			text = text[:len(text)-1]
		}
		f, err := strconv.ParseFloat(text, 64)
		if err != nil && !math.IsInf(f, 0) {
			c.fail(x.pos, iae("Invalid double constant ["+text+"]."))
		}
		x.v = f
		return stDouble
	}
	text := x.text
	long := strings.HasSuffix(text, "l") || strings.HasSuffix(text, "L")
	digits := strings.TrimRight(text, "lL")
	base := 10
	switch {
	case strings.HasPrefix(digits, "0x") || strings.HasPrefix(digits, "0X"):
		base, digits = 16, digits[2:]
	case len(digits) > 1 && digits[0] == '0':
		base, digits = 8, digits[1:]
	}
	if neg {
		digits = "-" + digits
		text = "-" + text
	}
	bits := 32
	if long {
		bits = 64
	}
	// hex and octal literals are two's-complement bit patterns, as in Java
	var v int64
	var err error
	if base == 10 {
		v, err = strconv.ParseInt(digits, 10, bits)
	} else {
		var u uint64
		u, err = strconv.ParseUint(strings.TrimPrefix(digits, "-"), base, bits)
		v = int64(u)
		if bits == 32 {
			v = int64(int32(uint32(u)))
		}
		if neg {
			v = -v
		}
	}
	if err != nil {
		if !long {
			if _, lerr := strconv.ParseInt(digits, base, 64); lerr == nil && base == 10 {
				c.fail(x.pos, iae("Invalid int constant ["+text+"]. If you want a long constant then change it to ["+text+"L]."))
			}
			c.fail(x.pos, iae("Invalid int constant ["+text+"]."))
		}
		c.fail(x.pos, iae("Invalid long constant ["+text+"]."))
	}
	if long {
		x.v = v
		return stLong
	}
	x.v = int32(v)
	return stInt
}

func (c *checker) binary(x *eBinary) stype {
	l, r := c.expr(x.l), c.expr(x.r)
	switch x.op {
	case "&&", "||":
		if l != stDef && l != stBool {
			c.fail(x.l.at(), castError(l, stBool))
		}
		if r != stDef && r != stBool {
			c.fail(x.r.at(), castError(r, stBool))
		}
		return stBool
	case "==", "!=":
		return stBool
	case "<", "<=", ">", ">=":
		if (l == stDef || l.numeric()) && (r == stDef || r.numeric()) {
			return stBool
		}
	case "+":
		if l == stString || r == stString {
			return stString
		}
		fallthrough
	default:
		if l == stDef || r == stDef {
			if (l == stDef || l.numeric()) && (r == stDef || r.numeric()) {
				return stDef
			}
			if x.op == "+" && (l == stDef || r == stDef) {
				return stDef
			}
			break
		}
		if l.numeric() && r.numeric() {
			if ll, ok := x.l.(*eLit); ok && (x.op == "/" || x.op == "%") {
				if rl, ok := x.r.(*eLit); ok && (l == stInt || l == stLong) && (r == stInt || r == stLong) && asInt64(rl.v) == 0 {
					_ = ll
					// constant folding divides at compile time (DefaultConstantFoldingOptimizationPhase)
					c.fail(x.pos, Cause{Type: "arithmetic_exception", Reason: "/ by zero"})
				}
			}
			return nkType(max(l.nk(), r.nk(), nkInt))
		}
	}
	if x.op == "<" || x.op == "<=" || x.op == ">" || x.op == ">=" || !(l == stDef || r == stDef) {
		c.fail(x.pos, cce("Cannot apply ["+x.op+"] operation to types ["+l.canonical()+"] and ["+r.canonical()+"]."))
	}
	return stDef
}

// target checks an assignment target and returns its static type.
func (c *checker) target(t expr, at int) stype {
	switch x := t.(type) {
	case *eVar:
		if x.name == "ctx" || x.name == "params" {
			c.fail(x.pos, unsupported("assigning to ["+x.name+"]"))
		}
		for _, n := range c.readOnly {
			if n == x.name {
				c.fail(x.pos, unsupported("assigning to the for-each variable ["+x.name+"]"))
			}
		}
		return c.expr(x)
	case *eField, *eIndex:
		return c.expr(x)
	case *eNew:
		c.fail(at, iae("invalid assignment cannot assign a value to new object with constructor ["+x.typ+"/"+strconv.Itoa(len(x.args))+"]"))
	}
	c.fail(at, iae("invalid assignment: cannot assign a value to "+describe(t)))
	return stDef
}

func (c *checker) assign(x *eAssign) stype {
	tt := c.target(x.target, x.pos)
	vt := c.expr(x.val)
	if x.op == "=" {
		c.assignable(x.val.at(), vt, tt)
		return tt
	}
	if tt == stString && x.op == "+" {
		return tt
	}
	if !(tt == stDef || tt.numeric()) || !(vt == stDef || vt.numeric() || (x.op == "+" && vt == stString)) {
		c.fail(x.pos, cce("Cannot apply ["+x.op+"] operation to types ["+tt.canonical()+"] and ["+vt.canonical()+"]."))
	}
	return tt
}

// member types a field access; on a Map it is the map shortcut (get).
func (c *checker) member(at int, rt stype, name string) stype {
	switch rt {
	case stDef, stMap, stHashMap:
		return stDef
	case stList, stArrayList:
		if _, err := strconv.Atoi(name); err == nil || name == "empty" {
			return stDef
		}
	}
	c.fail(at, iae("member field ["+rt.canonical()+", "+name+"] not found"))
	return stDef
}

// methods of the statically typed receivers of the subset, by name/arity, with their
// return types.
var staticMethods = map[stype]map[string]stype{
	stMap: {
		"get/1": stDef, "put/2": stDef, "remove/1": stDef, "containsKey/1": stBool, "containsValue/1": stBool,
		"size/0": stInt, "isEmpty/0": stBool, "getOrDefault/2": stDef, "clear/0": stVoid, "putAll/1": stVoid,
		"putIfAbsent/2": stDef, "equals/1": stBool, "toString/0": stString,
	},
	stList: {
		"add/1": stBool, "add/2": stVoid, "get/1": stDef, "set/2": stDef, "remove/1": stDef, "contains/1": stBool,
		"indexOf/1": stInt, "lastIndexOf/1": stInt, "size/0": stInt, "isEmpty/0": stBool, "clear/0": stVoid,
		"addAll/1": stBool, "equals/1": stBool, "toString/0": stString,
	},
	stString: {
		"length/0": stInt, "isEmpty/0": stBool, "contains/1": stBool, "startsWith/1": stBool, "endsWith/1": stBool,
		"toLowerCase/0": stString, "toUpperCase/0": stString, "trim/0": stString, "substring/1": stString,
		"substring/2": stString, "indexOf/1": stInt, "replace/2": stString, "equals/1": stBool, "toString/0": stString,
	},
}

func (c *checker) method(x *eCall, rt stype) stype {
	key := x.name + "/" + strconv.Itoa(len(x.args))
	lookup := rt
	switch rt {
	case stDef:
		return stDef
	case stHashMap:
		lookup = stMap
	case stArrayList:
		lookup = stList
	}
	if m, ok := staticMethods[lookup]; ok {
		if t, ok := m[key]; ok {
			return t
		}
		// Painless has these; the subset does not model Set/Collection/iterators
		if unmodelled[x.name] {
			c.fail(x.pos, unsupported("the method ["+key+"]"))
		}
		c.fail(x.pos, iae("member method ["+rt.canonical()+", "+key+"] not found"))
	}
	c.fail(x.pos, unsupported("calling methods on ["+rt.canonical()+"]"))
	return stDef
}
