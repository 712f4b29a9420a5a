package dnssec

import (
	"strings"
	"testing"
	"time"
)

func TestCheck(t *testing.T) {
	w, err := Check("testdata/keys", Config{}, []string{"example.test.", "sub.example.test."}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	all := strings.Join(w, "\n")
	for _, want := range []string{"keys for zone csk.test., which is not served", "zone sub.example.test. is served unsigned inside signed zone example.test."} {
		if !strings.Contains(all, want) {
			t.Errorf("warnings %q lack %q", all, want)
		}
	}
	// Before the fixture keys were created, none is published: every zone fails.
	if _, err := Check("testdata/keys", Config{}, nil, time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)); err == nil || !strings.Contains(err.Error(), "example.test.") {
		t.Errorf("keys not yet published: error %v", err)
	}
	if _, err := Check("testdata/mismatch", Config{}, nil, time.Now()); err == nil {
		t.Error("mismatched key halves pass the check")
	}
	if _, err := Check("testdata/keys", Config{Validity: Duration(time.Minute)}, nil, time.Now()); err == nil {
		t.Error("a one-minute validity passes the check")
	}
}
