package replicator

import "github.com/fanout-dev/fanout/pkg/adminhttp"

// AdminHeader is the custom header that, like a JSON content type, marks a
// state-changing admin request as not sendable by a web page without a CORS
// preflight (which the admin listener never answers).
const AdminHeader = adminhttp.Header

// ReadAdminToken reads a bearer token file: its trailing newline is trimmed, and an
// empty token, or one with spaces or control characters, is an error.
func ReadAdminToken(file string) (string, error) { return adminhttp.ReadToken(file) }
