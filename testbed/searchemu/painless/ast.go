package painless

// The syntax tree. Every node keeps the source offset Painless reports for it: the start
// of the expression for operators and assignments, the '.' or '[' of a member access or
// call, the variable name of a declaration, the keyword of if/return.

type expr interface{ at() int }

type (
	eLit struct {
		pos  int
		v    any
		text string // the literal as written (not-a-statement messages)
		kind string // "numeric", "decimal", "string", "boolean", "null"
	}
	eVar struct {
		pos  int
		name string
		typ  stype // filled in by the checker
	}
	eField struct {
		pos      int
		x        expr
		name     string
		nullSafe bool
	}
	eIndex struct {
		pos    int
		x, idx expr
	}
	eCall struct {
		pos      int
		x        expr
		name     string
		args     []expr
		nullSafe bool
	}
	eNew struct {
		pos  int
		typ  string
		args []expr
	}
	eListInit struct {
		pos   int
		elems []expr
	}
	eMapInit struct {
		pos        int
		keys, vals []expr
	}
	eUnary struct {
		pos int
		op  string
		x   expr
	}
	eBinary struct {
		pos  int
		op   string
		l, r expr
	}
	eCond struct {
		pos     int
		c, a, b expr
	}
	eElvis struct {
		pos  int
		l, r expr
	}
	eAssign struct {
		pos    int
		op     string // "=", or the compound operator without '=' ("+", "-", ...)
		target expr
		val    expr
	}
	eIncDec struct {
		pos    int
		target expr
		delta  int32
		prefix bool
	}
	eCast struct {
		pos int
		typ stype
		x   expr
	}
	eInstanceof struct {
		pos int
		x   expr
		typ stype
	}
)

func (e *eLit) at() int        { return e.pos }
func (e *eVar) at() int        { return e.pos }
func (e *eField) at() int      { return e.pos }
func (e *eIndex) at() int      { return e.pos }
func (e *eCall) at() int       { return e.pos }
func (e *eNew) at() int        { return e.pos }
func (e *eListInit) at() int   { return e.pos }
func (e *eMapInit) at() int    { return e.pos }
func (e *eUnary) at() int      { return e.pos }
func (e *eBinary) at() int     { return e.pos }
func (e *eCond) at() int       { return e.pos }
func (e *eElvis) at() int      { return e.pos }
func (e *eAssign) at() int     { return e.pos }
func (e *eIncDec) at() int     { return e.pos }
func (e *eCast) at() int       { return e.pos }
func (e *eInstanceof) at() int { return e.pos }

type stmt interface{ at() int }

type (
	sExpr struct {
		pos int
		x   expr
	}
	sDecl struct {
		typ  stype
		vars []declVar
	}
	declVar struct {
		pos  int
		name string
		init expr
	}
	sIf struct {
		pos              int
		cond             expr
		then, els        []stmt
		hasElse          bool
		thenPos, elsePos int // where the blocks start (their '{' or their statement)
	}
	sReturn struct {
		pos int
		x   expr
	}

	sWhile struct {
		pos, bodyPos int
		cond         expr
		body         []stmt
	}
	sDo struct {
		pos, bodyPos int
		body         []stmt
		cond         expr
	}
	sFor struct {
		pos     int
		bodyPos int
		init    stmt // *sDecl, *sExpr or nil
		cond    expr // nil: true
		after   expr
		body    []stmt
	}
	sEach struct {
		pos     int
		bodyPos int
		typ     stype
		name    string
		namePos int
		iter    expr
		body    []stmt
	}
	sBreak    struct{ pos int }
	sContinue struct{ pos int }
)

func (s *sWhile) at() int    { return s.pos }
func (s *sDo) at() int       { return s.pos }
func (s *sFor) at() int      { return s.pos }
func (s *sEach) at() int     { return s.pos }
func (s *sBreak) at() int    { return s.pos }
func (s *sContinue) at() int { return s.pos }

func (s *sExpr) at() int   { return s.pos }
func (s *sDecl) at() int   { return s.vars[0].pos }
func (s *sIf) at() int     { return s.pos }
func (s *sReturn) at() int { return s.pos }

// stype is a static Painless type.
type stype int

const (
	stDef stype = iota
	stInt
	stLong
	stFloat
	stDouble
	stBool
	stString
	stList
	stMap
	stArrayList
	stHashMap
	stNull // the type of the null literal
	stVoid
)

// typeNames are the declarable types of the subset, by their Painless names.
var typeNames = map[string]stype{
	"def": stDef, "int": stInt, "long": stLong, "float": stFloat, "double": stDouble, "boolean": stBool,
	"String": stString, "List": stList, "Map": stMap, "ArrayList": stArrayList, "HashMap": stHashMap,
}

// otherTypes are Painless types and classes the subset does not model: naming one is a
// compile error of the emulator's, not "cannot resolve symbol".
var otherTypes = map[string]bool{
	"byte": true, "short": true, "char": true, "void": true, "Object": true, "Integer": true, "Long": true, "Double": true,
	"Float": true, "Boolean": true, "Character": true, "Byte": true, "Short": true, "Number": true, "Math": true,
	"Set": true, "HashSet": true, "Collection": true, "Collections": true, "Arrays": true, "Iterator": true,
	"LinkedHashMap": true, "TreeMap": true, "LinkedList": true, "StringBuilder": true, "Instant": true,
	"ZonedDateTime": true, "LocalDateTime": true, "ZoneId": true, "ChronoUnit": true, "DateTimeFormatter": true,
	"Objects": true, "Debug": true, "Pattern": true, "Matcher": true, "CharSequence": true, "Optional": true,
	"BigInteger": true, "BigDecimal": true, "UUID": true, "Base64": true, "Json": true, "Locale": true,
}

// canonical is PainlessLookupUtility.typeToCanonicalTypeName.
func (t stype) canonical() string {
	switch t {
	case stDef:
		return "def"
	case stInt:
		return "int"
	case stLong:
		return "long"
	case stFloat:
		return "float"
	case stDouble:
		return "double"
	case stBool:
		return "boolean"
	case stString:
		return "java.lang.String"
	case stList:
		return "java.util.List"
	case stMap:
		return "java.util.Map"
	case stArrayList:
		return "java.util.ArrayList"
	case stHashMap:
		return "java.util.HashMap"
	case stNull:
		return "null"
	}
	return "void"
}

func (t stype) numeric() bool { return t >= stInt && t <= stDouble }

func (t stype) primitive() bool { return t >= stInt && t <= stBool }

func (t stype) nk() int {
	switch t {
	case stInt:
		return nkInt
	case stLong:
		return nkLong
	case stFloat:
		return nkFloat
	case stDouble:
		return nkDouble
	}
	return nkNone
}

func nkType(k int) stype {
	switch k {
	case nkInt:
		return stInt
	case nkLong:
		return stLong
	case nkFloat:
		return stFloat
	}
	return stDouble
}
