package bulk_test

import (
	"fmt"
	"strings"

	"github.com/fanout-dev/fanout/pkg/bulk"
)

func ExampleScanner() {
	body := "{\"index\":{\"_index\":\"t\",\"_id\":\"1\"}}\n{\"a\":1}\n{\"delete\":{\"_index\":\"t\",\"_id\":\"2\"}}\n"
	s := bulk.NewScanner(strings.NewReader(body))
	for s.Next() {
		it := s.Item()
		fmt.Printf("line %d: %s %s/%s %s\n", it.Line, it.Action, it.Index, it.ID, it.Payload)
	}
	if err := s.Err(); err != nil {
		fmt.Println(string(err.(*bulk.Error).JSON()))
	}
	// Output:
	// line 1: index t/1 {"a":1}
	// line 3: delete t/2
}

func ExampleScanner_error() {
	s := bulk.NewBytesScanner([]byte("{\"index\":{\"_type\":\"_doc\"}}\n{}\n"))
	for s.Next() {
	}
	fmt.Println(string(s.Err().(*bulk.Error).JSON()))
	// Output:
	// {"error":{"root_cause":[{"type":"illegal_argument_exception","reason":"Action/metadata line [1] contains an unknown parameter [_type]"}],"type":"illegal_argument_exception","reason":"Action/metadata line [1] contains an unknown parameter [_type]"},"status":400}
}

func ExampleAppendItem() {
	m := bulk.Meta{Action: bulk.ActionIndex, Index: "t", ID: "1", HasID: true, Version: 7, HasVersion: true, VersionType: "external"}
	fmt.Print(string(bulk.AppendItem(nil, &m, []byte(`{"a":1}`))))
	// Output:
	// {"index":{"_index":"t","_id":"1","version":7,"version_type":"external"}}
	// {"a":1}
}

func ExampleParseResponse() {
	body := []byte(`{"took":3,"errors":true,"items":[` +
		`{"index":{"_index":"t","_id":"1","_version":1,"result":"created","_seq_no":0,"_primary_term":1,"status":201}},` +
		`{"create":{"_index":"t","_id":"2","status":409,"error":{"type":"version_conflict_engine_exception","reason":"[2]: version conflict"}}}]}`)
	sum, err := bulk.ParseResponse(body, func(i int, r *bulk.ItemResult) error {
		fmt.Printf("%d %s %s %d %q %q\n", i, r.Action, r.ID, r.Status, r.Result, r.ErrorType)
		return nil
	})
	fmt.Println(sum.Items, sum.Errors, err)
	// Output:
	// 0 index 1 201 "created" ""
	// 1 create 2 409 "" "version_conflict_engine_exception"
	// 2 true <nil>
}
