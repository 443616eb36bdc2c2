// SPDX-License-Identifier: Apache-2.0

package config

import (
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// wholeOccurrence matches sec where it is not glued to a letter or digit:
// an independent statement of what Scrub must never let through.
func wholeOccurrence(sec string) *regexp.Regexp {
	return regexp.MustCompile(`(^|[^\pL\pN])` + regexp.QuoteMeta(sec) + `([^\pL\pN]|$)`)
}

// A secret never passes Scrub: not where it stands as a token of its own
// (in a URL, after "=", quoted, alone, repeated, at either end), whatever
// its length; and a long one not even inside a word.
func TestScrubNeverLetsASecretThrough(t *testing.T) {
	shortOnes := []string{"a", "ab", "abl", "able", "p4ss", "s3cr3", "ü7", "a-b", "-ab", "ab!"}
	longOnes := []string{"correct horse", "s3cr3t-pw", "tablespoon", "äöüß12"}
	seps := []string{"", " ", ":", "@", "=", "'", `"`, "/", "?", "&", "\n", "\t", ",", ".", "(", ")", "%", "_", "-", "é"}
	words := []string{"table", "password", "db", "ab", "x", "tablespoon", "user", "ü"}
	rng := rand.New(rand.NewPCG(1, 2))
	pick := func(l []string) string { return l[rng.IntN(len(l))] }
	for _, sec := range append(slices.Clone(shortOnes), longOnes...) {
		fixed := []string{
			sec, sec + sec, "postgresql://tt:" + sec + "@db:5432/tt", "RESTIC_PASSWORD=" + sec,
			`password "` + sec + `" refused`, sec + " at start", "at end " + sec, sec + "," + sec,
			"https://hooks.example/" + sec + "?token=" + sec + "&x=1",
		}
		for i := 0; i < 300; i++ {
			var b strings.Builder
			for n := rng.IntN(6); n >= 0; n-- {
				switch rng.IntN(3) {
				case 0:
					b.WriteString(sec)
				case 1:
					b.WriteString(pick(words))
				}
				b.WriteString(pick(seps))
			}
			fixed = append(fixed, b.String())
		}
		long := len([]rune(sec)) >= MinSubstringSecret
		for _, text := range fixed {
			got := Scrub(text, []string{"unrelated-secret-value", sec})
			if long && strings.Contains(got, sec) {
				t.Fatalf("secret %q passed: Scrub(%q) = %q", sec, text, got)
			}
			if !long && wholeOccurrence(sec).MatchString(got) {
				t.Fatalf("short secret %q passed as a token: Scrub(%q) = %q", sec, text, got)
			}
		}
	}
}

// A short secret inside an ordinary word leaves the word as it is
// ("t***le" would both mangle the text and tell the password), while
// the same secret standing alone is removed.
func TestScrubKeepsWordsContainingAShortSecret(t *testing.T) {
	for _, tc := range []struct{ secret, in, want string }{
		{"ab", "table", "table"},
		{"ab", "cannot open table ab", "cannot open table ***"},
		{"ab", "postgresql://tt:ab@db/tt: table missing", "postgresql://tt:***@db/tt: table missing"},
		{"able", "table unreadable; password able", "table unreadable; password ***"},
		{"p", "tcp connect: password p refused", "tcp connect: password *** refused"},
		{"ab!", "tab! ab!x", "tab! ***x"}, // "!" ends the secret: what follows cannot extend it
		{"ab", "ab_key ab-1 ab.", "***_key ***-1 ***."},
		{"ü7", "Müü7 ü7", "Müü7 ***"},
		// From MinSubstringSecret characters on, a secret goes wherever it is.
		{"tables", "stables", "s***"},
	} {
		if got := Scrub(tc.in, []string{tc.secret}); got != tc.want {
			t.Errorf("Scrub(%q, %q) = %q, want %q", tc.in, tc.secret, got, tc.want)
		}
	}
}

// A secret that contains another is removed whole, whatever the order in
// which the secrets come.
func TestScrubLongestFirst(t *testing.T) {
	for _, secrets := range [][]string{{"abcdef", "abcdefgh"}, {"abcdefgh", "abcdef"}, {"pw", "pw-long-one"}, {"pw-long-one", "pw"}} {
		longer := secrets[0]
		if len(secrets[1]) > len(longer) {
			longer = secrets[1]
		}
		if got := Scrub("key "+longer+".", secrets); got != "key ***." {
			t.Errorf("Scrub with %q of %q = %q, want %q", secrets, "key "+longer+".", got, "key ***.")
		}
	}
}

// Config.Secrets returns short secret values too: before, values under four
// characters were left out and passed unscrubbed.
func TestConfigSecretsIncludesShortValues(t *testing.T) {
	c := NewConfig(map[string]string{"DB_PASSWORD": "ab", "RESTIC_PASSWORD": "long enough", "DB_NAME": "tt", "EMPTY_TOKEN": ""})
	got := c.Secrets(IsSecretKey)
	slices.Sort(got)
	if !slices.Equal(got, []string{"ab", "long enough"}) {
		t.Fatalf("Secrets = %q, want [ab, long enough]", got)
	}
}
