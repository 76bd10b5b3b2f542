import RAGDB
import Testing

/// The query language: what parses into which query, and parse errors that point at the
/// offending token.
@Suite struct QueryLanguageTests {
    @Test("a full SELECT parses into the query, the filter and the options")
    func parsesEverything() throws {
        let s = try QueryLanguage.parse("""
            EXPLAIN ANALYZE SELECT doc, score, kv FROM docs
            WHERE MATCH('b-tree') AND NEAR(e, [1, -2.5e-1, 3]) AND SPARSE(splade, {'tree': 1.5, 'page': 0})
              AND NGRAM('copy on', 'write') AND lang = 'en' AND (year >= 2020 OR tags IN ('db', 'os'))
              AND NOT draft = TRUE AND title LIKE 'How%' AND n != 3
            FUSION WEIGHTED(0.25) CANDIDATES 200 PROBES 16 LIMIT 5 BUDGET 512 TOKENS KV 'llama';
            """)
        #expect(s.explain == .analyze && s.collection == "docs" && s.columns == ["doc", "score", "kv"])
        let q = s.query
        #expect(q.text == "b-tree" && q.vectors["e"] == [1, -0.25, 3] && q.sparse["splade"] == ["tree": 1.5, "page": 0])
        #expect(q.ngrams == ["copy on", "write"] && q.k == 5 && q.candidates == 200 && q.probes == 16 && q.budget == 512 && q.kvProfile == "llama")
        #expect(q.fusion == .weighted(alpha: 0.25))
        #expect(q.filter == .and([
            .compare("lang", .equal, .string("en")),
            .or([.compare("year", .greaterOrEqual, .int(2020)), .oneOf("tags", [.string("db"), .string("os")])]),
            .not(.compare("draft", .equal, .bool(true))),
            .prefix("title", "How"),
            .compare("n", .notEqual, .int(3)),
        ]))
        #expect(try QueryLanguage.parse("select * from c where match('it''s')").query.text == "it's")
        #expect(try QueryLanguage.parseFilter("a < 1.5 AND b NOT IN ('x')") == .and([.compare("a", .less, .double(1.5)), .not(.oneOf("b", [.string("x")]))]))
    }

    @Test("parse errors name what was expected and point at the offending token", arguments: [
        ("SELEC doc FROM c", 0, "expected SELECT"),
        ("SELECT doc FROM c WHERE lang = ", 31, "expected a value"),
        ("SELECT doc FROM c WHERE MATCH('x') OR NEAR(e, [1])", 38, "NEAR may only be ANDed"),
        ("SELECT doc FROM c WHERE NOT MATCH('x')", 28, "MATCH may only be ANDed"),
        ("SELECT nope FROM c", 7, "unknown column nope"),
        ("SELECT doc FROM c LIMIT 0", 18, "LIMIT must be at least 1"),
        ("SELECT doc FROM c WHERE a LIKE '%x'", 31, "prefix pattern"),
        ("SELECT doc FROM c WHERE a = 'open", 28, "unterminated string"),
        ("SELECT doc FROM c WHERE a ~ 1", 26, "unexpected character"),
        ("SELECT doc FROM c LIMIT 5 extra", 26, "expected the end of the statement"),
        ("SELECT doc FROM c\nWHERE a >", 26, "line 2, column 10"),
    ])
    func errors(source: String, offset: Int, message: String) {
        do {
            _ = try QueryLanguage.parse(source)
            Issue.record("parsed: \(source)")
        } catch {
            if !message.hasPrefix("line") { #expect(error.offset == offset, "\(error)") }
            #expect(error.description.contains(message), "\(error)")
            #expect(error.description.hasSuffix("^"))
        }
    }
}
