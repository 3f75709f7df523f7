// Command tlog_check recomputes an ARX audit log's tree hash with Go's reference implementation
// (golang.org/x/mod/sumdb/tlog) and verifies its checkpoint with golang.org/x/mod/sumdb/note.
//
//	tlog_check -vkey VKEY [-vkey VKEY2 …] -note NOTE_FILE < LEAVES
//
// LEAVES holds one leaf input per line, base64, in tree order from index 0 (the `leaf_input` of each item
// of GET /api/v1/audit/entries; docs/audit-entry-encoding.md). VKEY is a note verifier key as served in
// `vkey` by GET /api/v1/audit/keys. It prints one JSON object (tree size, the root tlog computes over the
// note's tree size, the note's root, whether they agree) and exits 0 only when the note verifies and the
// roots agree.
//
// Build without a module, offline, against Debian's golang-golang-x-mod-dev:
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o tlog_check tools/tlog_check/main.go
package main

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

type vkeys []string

func (v *vkeys) String() string     { return strings.Join(*v, ",") }
func (v *vkeys) Set(s string) error { *v = append(*v, s); return nil }

type report struct {
	Leaves     int64  `json:"leaves"`
	TreeSize   int64  `json:"tree_size"`
	Origin     string `json:"origin"`
	Signer     string `json:"signer"`
	NoteRoot   string `json:"note_root"`
	TlogRoot   string `json:"tlog_root"`
	RootsAgree bool   `json:"roots_agree"`
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "tlog_check: "+format+"\n", args...)
	os.Exit(1)
}

func main() {
	var keys vkeys
	flag.Var(&keys, "vkey", "note verifier key (repeatable)")
	notePath := flag.String("note", "", "file holding the signed checkpoint note")
	flag.Parse()
	if len(keys) == 0 || *notePath == "" {
		fail("usage: tlog_check -vkey VKEY -note FILE < leaves")
	}

	var verifiers []note.Verifier
	for _, k := range keys {
		v, err := note.NewVerifier(k)
		if err != nil {
			fail("bad verifier key: %v", err)
		}
		verifiers = append(verifiers, v)
	}
	msg, err := os.ReadFile(*notePath)
	if err != nil {
		fail("%v", err)
	}
	n, err := note.Open(msg, note.VerifierList(verifiers...))
	if err != nil {
		fail("note does not verify: %v", err)
	}
	// tlog-checkpoint body: origin, tree size, base64 root hash, then optional extension lines.
	lines := strings.Split(n.Text, "\n")
	if len(lines) < 4 {
		fail("not a checkpoint body")
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil {
		fail("bad tree size: %v", err)
	}
	noteRoot, err := tlog.ParseHash(lines[2])
	if err != nil {
		fail("bad root hash: %v", err)
	}

	// Store every hash tlog's layout asks for (leaves and interior nodes), in its storage order.
	var stored []tlog.Hash
	reader := tlog.HashReaderFunc(func(indexes []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(indexes))
		for i, x := range indexes {
			if x < 0 || x >= int64(len(stored)) {
				return nil, fmt.Errorf("hash %d not stored", x)
			}
			out[i] = stored[x]
		}
		return out, nil
	})
	scanner := bufio.NewScanner(os.Stdin)
	scanner.Buffer(make([]byte, 1<<20), 1<<26)
	var leaves int64
	for scanner.Scan() {
		data, err := base64.StdEncoding.DecodeString(strings.TrimSpace(scanner.Text()))
		if err != nil {
			fail("leaf %d is not base64: %v", leaves, err)
		}
		hashes, err := tlog.StoredHashes(leaves, data, reader)
		if err != nil {
			fail("%v", err)
		}
		stored = append(stored, hashes...)
		leaves++
	}
	if err := scanner.Err(); err != nil {
		fail("%v", err)
	}
	if size > leaves {
		fail("the note covers %d leaves, only %d given", size, leaves)
	}
	root, err := tlog.TreeHash(size, reader)
	if err != nil {
		fail("%v", err)
	}
	out := report{Leaves: leaves, TreeSize: size, Origin: lines[0], Signer: n.Sigs[0].Name,
		NoteRoot: base64.StdEncoding.EncodeToString(noteRoot[:]),
		TlogRoot: base64.StdEncoding.EncodeToString(root[:]), RootsAgree: root == noteRoot}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		fail("%v", err)
	}
	if !out.RootsAgree {
		os.Exit(1)
	}
}
