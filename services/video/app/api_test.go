package app_test

import "testing"

// TestAPI runs the end-to-end scenarios (real user and video services over
// 127.0.0.1) on each database backend.
func TestAPI(t *testing.T) {
	runScenarios(t, []scenario{
		{"CreateAndGet", testCreateAndGet},
		{"CreateRejectsBadInput", testCreateRejectsBadInput},
		{"Authentication", testAuthentication},
		{"IDs", testIDs},
		{"Update", testUpdate},
		{"Delete", testDelete},
		{"ListPagination", testListPagination},
		{"Popular", testPopular},
		{"OperationalEndpoints", testOperationalEndpoints},
		{"GRPC", testGRPC},
	})
}
