// Package e2e holds Waterchain's end-to-end tests: real processes of the
// built waterchain binary, started from homes written by home.WriteNetwork
// and driven only through their HTTP API, their /metrics and signals
// (SIGKILL, SIGTERM), the way an operator sees them.
//
// TestMain builds the binary once per run (or uses WATERCHAIN_E2E_BIN).
// Each test writes its own network on a random free port range, starts the
// processes it needs, and kills every one of them when it ends, failed or
// not; a failing test prints the tail of each process's log. The tests wait
// on conditions read from the API with deadlines, never on fixed sleeps;
// the only fixed interval is the observation window that shows finality
// halting, which is what that test claims.
//
// TestNodesOnSeparateHosts puts each node in a Linux network namespace of
// its own on a bridge; it needs root and the ip command, and says why it
// skipped without them (WATERCHAIN_REQUIRE_NETNS=1, set by .ci/run as
// root, makes that a failure).
//
// The package has no non-test code. Run it with
//
//	go test ./e2e                        # every scenario but the long one, ~100 s on 2 cores
//	WATERCHAIN_E2E_LONG=1 go test ./e2e  # plus repeated kills under load (~40 s more)
//	WATERCHAIN_E2E_BIN=path go test ./e2e  # test a prebuilt binary (a -race build, say)
//
// and skip it with -short.
package e2e
