package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// defaultNodeURL is the API address a node listens on unless configured
// otherwise; WATERCHAIN_NODE overrides it for every command.
const defaultNodeURL = "http://127.0.0.1:7070"

// addNodeFlag adds --node to a command that talks to a node's API.
func addNodeFlag(cmd *cobra.Command) *string {
	return cmd.Flags().String("node", defaultNodeURLFromEnv(), "API URL of the node (env WATERCHAIN_NODE)")
}

// apiClient talks JSON to one node's HTTP API.
type apiClient struct {
	base string
	http *http.Client
}

func newAPIClient(base string) (*apiClient, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--node %q: want a URL such as %s", base, defaultNodeURL)
	}
	return &apiClient{base: strings.TrimRight(base, "/"), http: &http.Client{Timeout: 30 * time.Second}}, nil
}

// apiError is an error answer of the node: {"error": ..., "code": ...}.
type apiError struct {
	Status  int    `json:"-"`
	Message string `json:"error"`
	Code    string `json:"code"`
}

func (e *apiError) Error() string {
	if e.Code != "" {
		return fmt.Sprintf("node refused (%d %s): %s", e.Status, e.Code, e.Message)
	}
	return fmt.Sprintf("node refused (%d): %s", e.Status, e.Message)
}

// do sends body (JSON-encoded unless it is []byte) and decodes the answer
// into out (when non-nil).
func (c *apiClient) do(ctx context.Context, method, path string, body any, out any) error {
	var rd io.Reader
	contentType := "application/json"
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	if rd != nil {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return describeDialError(c.base, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("reading the answer of %s: %w", c.base, err)
	}
	if resp.StatusCode >= 300 {
		e := &apiError{Status: resp.StatusCode}
		if json.Unmarshal(raw, e) != nil || e.Message == "" {
			e.Message = strings.TrimSpace(string(raw))
		}
		return e
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("answer of %s%s is not what this CLI expects (%v); are the CLI and node the same version?", c.base, path, err)
	}
	return nil
}

func (c *apiClient) get(ctx context.Context, path string, out any) error {
	return c.do(ctx, http.MethodGet, path, nil, out)
}

func (c *apiClient) post(ctx context.Context, path string, body, out any) error {
	return c.do(ctx, http.MethodPost, path, body, out)
}

// describeDialError turns a transport error into one line that says what to
// check.
func describeDialError(base string, err error) error {
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Op == "dial" {
		return fmt.Errorf("cannot reach a node at %s (is it running? set --node or WATERCHAIN_NODE)", base)
	}
	if errors.Is(err, context.DeadlineExceeded) || os.IsTimeout(err) {
		return fmt.Errorf("node at %s did not answer in time", base)
	}
	return fmt.Errorf("talking to %s: %v", base, err)
}

func lookupEnv(name string) string { return os.Getenv(name) }

// printJSON writes v indented to w.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
