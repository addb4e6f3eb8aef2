// Package labels measures tune.LabelRoutes, which serves each request
// inside a pprof "route" label, against the same http.ServeMux served
// bare: the difference is the labels' cost per request. See
// labels_test.go.
package labels
