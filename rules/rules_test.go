package rules

import (
	"math"
	"reflect"
	"testing"
	"time"
)

func TestForever(t *testing.T) {
	if Forever != time.Duration(math.MaxInt64) {
		t.Errorf("Forever = %d, want math.MaxInt64", Forever)
	}
}

// TestEDGAR pins the preset to the original's EDGAR_CACHE_RULES.
func TestEDGAR(t *testing.T) {
	want := Rules{{
		Host: `.*\.sec\.gov`,
		Paths: []Path{
			{`/submissions.*`, 600 * time.Second},
			{`/include/ticker\.txt.*`, 600 * time.Second},
			{`/files/company_tickers\.json.*`, 600 * time.Second},
			{`.*index/.*`, 1800 * time.Second},
			{`/Archives/edgar/data`, Forever},
		},
	}}
	if !reflect.DeepEqual(EDGAR, want) {
		t.Errorf("EDGAR = %#v, want %#v", EDGAR, want)
	}
	if _, err := Compile(EDGAR); err != nil {
		t.Errorf("Compile(EDGAR): %v", err)
	}
}

func TestClone(t *testing.T) {
	tests := []struct {
		name string
		r    Rules
	}{
		{"nil", nil},
		{"empty", Rules{}},
		{"site without paths", Rules{{Host: "a"}}},
		{"site with empty paths", Rules{{Host: "a", Paths: []Path{}}}},
		{"EDGAR", EDGAR},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.r.Clone()
			if !reflect.DeepEqual(c, tt.r) {
				t.Fatalf("Clone() = %#v, want %#v", c, tt.r)
			}
			if len(c) > 0 && len(c[0].Paths) > 0 {
				c[0].Host = "changed"
				c[0].Paths[0].MaxAge = 42
				if tt.r[0].Host == "changed" || tt.r[0].Paths[0].MaxAge == 42 {
					t.Error("changing the clone changed the original")
				}
			}
		})
	}
}
