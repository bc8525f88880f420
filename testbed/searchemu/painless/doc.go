// Package painless is the subset of OpenSearch's Painless scripting language that the
// emulator runs for scripted updates (UpdateHelper's update context: variables ctx and
// params, both java.util.Map).
//
// The subset: statements (expression statements, local declarations of def, int, long,
// float, double, boolean, String, List, Map, ArrayList, HashMap, if/else with blocks or
// single statements, while, do-while, for, for-each over lists (for (def x : l) and
// for (x in l)), break, continue, return without a value; loops are bounded by
// max_loop_counter's default of 1,000,000 statements, failing with PainlessError's
// message, and an ArrayList changed under a for-each fails as its iterator does);
// expressions (literals with Painless's int,
// long, float and double constants, dotted and bracket access with the map shortcut,
// null-safe ?. and elvis ?:, assignment and the compound operators, ++ and --,
// arithmetic with Java's promotion and overflow, string concatenation, comparisons,
// ==/!= with DefMath's numeric promotion, &&, ||, !, ?:, casts, instanceof, list and map
// initializers, new ArrayList()/new HashMap()); the common Map, List, String and number
// methods. Values keep their Java classes (Integer + Integer is an Integer), and a
// compound assignment casts back to the target's class as DefMath.dynamicCast does.
//
// The semantic pass applies Painless's compile-time rules (DefaultSemanticAnalysisPhase):
// unknown symbols, redefined variables, casts between static types, expressions that are
// not statements, assignments to what is not a variable, and the control-flow checks
// (unreachable statements, extraneous if/else blocks and loops, loops no path escapes,
// break and continue outside loops, a trailing continue, a value returned from the void
// update script).
//
// Errors are ScriptExceptions shaped like the server's: a compile error positions a
// 25-character snippet around the offending offset (PainlessScriptEngine); a runtime error
// names the statement (PainlessScript) and carries the Java exception (null-pointer,
// class-cast, arithmetic, index-out-of-bounds, illegal-argument messages as Painless's
// runtime writes them). Painless constructs outside the subset (lambdas, functions,
// try/throw, regexes, arrays, bitwise operators, Set and iterator views such as keySet,
// other classes) are compile errors whose
// reason says so, never something else silently. Differences: syntax errors are
// reported with ParserErrorStrategy's messages but not always at the token ANTLR would
// pick; a runtime error's script_stack holds only the script portion, without the JDK
// frames a cluster adds for exceptions thrown inside library code.
package painless
