package painless

import "strings"

// Cause is one Java exception in the chain under a ScriptException, rendered as the
// server renders a throwable: its snake_case type and its message (Null: message null).
type Cause struct {
	Type   string
	Reason string
	Null   bool
	Inner  *Cause
}

// Error is a ScriptException: a compile error (PainlessScriptEngine.convertToScriptException)
// or a runtime error (PainlessScript.convertToScriptException). Offset, Start and End are
// ScriptException.Position; Stack is script_stack.
type Error struct {
	Runtime            bool
	Script             string
	Stack              []string
	Offset, Start, End int
	Cause              Cause
}

// Reason is the ScriptException message.
func (e *Error) Reason() string {
	if e.Runtime {
		return "runtime error"
	}
	return "compile error"
}

func (e *Error) Error() string { return e.Reason() + ": " + e.Cause.Type + ": " + e.Cause.Reason }

// compileError positions a compile error the way PainlessScriptEngine does: a snippet of
// 25 characters either side of the offset, with "... " markers where it was cut.
func compileError(src string, offset int, c Cause) *Error {
	offset = max(0, min(offset, len(src)))
	start := max(0, offset-25)
	end := min(len(src), offset+25)
	var snip, ptr strings.Builder
	if start > 0 {
		snip.WriteString("... ")
		ptr.WriteString("    ")
	}
	snip.WriteString(src[start:end])
	if end < len(src) {
		snip.WriteString(" ...")
	}
	ptr.WriteString(strings.Repeat(" ", offset-start))
	ptr.WriteString("^---- HERE")
	return &Error{Script: src, Stack: []string{snip.String(), ptr.String()}, Offset: offset, Start: start, End: end, Cause: c}
}

// runtimeError positions a runtime error the way PainlessScript does: from the statement
// boundary at or before the offset to the next one after it.
func (s *Script) runtimeError(offset int, c Cause) *Error {
	start := 0
	for _, b := range s.bounds {
		if b <= offset && b >= start {
			start = b
		}
	}
	end := len(s.src)
	for _, b := range s.bounds {
		if b > start && b < end {
			end = b
		}
	}
	ptr := strings.Repeat(" ", max(0, offset-start)) + "^---- HERE"
	return &Error{Runtime: true, Script: s.src, Stack: []string{s.src[start:end], ptr}, Offset: offset, Start: start, End: end, Cause: c}
}

func iae(msg string) Cause { return Cause{Type: "illegal_argument_exception", Reason: msg} }

func cce(msg string) Cause { return Cause{Type: "class_cast_exception", Reason: msg} }

func npe(msg string) Cause { return Cause{Type: "null_pointer_exception", Reason: msg} }

// npeGetClass is the helpful NullPointerException message of a getClass() call on a null
// local of DefMath/Def (OpenSearch is built with local variable names).
func npeGetClass(local string) Cause {
	return npe(`Cannot invoke "Object.getClass()" because "` + local + `" is null`)
}

func nullDef(name string) Cause {
	return npe("cannot access method/field [" + name + "] from a null def reference")
}

// unsupported answers, as a compile error, a construct Painless has but the emulator does
// not model: never run something else instead.
func unsupported(what string) Cause {
	return iae("searchemu: " + what + " is outside the emulator's Painless subset")
}

// jdkCast is the JDK's ClassCastException message for a failed checkcast.
func jdkCast(from, to string) Cause {
	return cce("class " + from + " cannot be cast to class " + to + " (" + from + " and " + to + " are in module java.base of loader 'bootstrap')")
}
