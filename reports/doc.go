// Package reports is the last stage of pgrehearse: it renders what the
// other stages produced for people. Today that is the end-of-parse summary;
// the comparison report (text, Markdown, JSON, HTML) and the launch
// verdict render here too. Renderers only format: they never contact a
// cluster, and query parameter values never reach them.
package reports
