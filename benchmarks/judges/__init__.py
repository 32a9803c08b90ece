"""Judge protocols of the benchmark suites (VIEScore, ImgEdit 1-5, P(Yes)), their parsing, templates, cache and the text-judge contract; ``protocols`` gathers them."""
