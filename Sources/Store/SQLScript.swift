/// Splits a SQL script into statements at top-level semicolons.
///
/// PostgresNIO speaks only the extended query protocol, one statement per query, so a
/// migration file is run statement by statement. Semicolons inside quoted strings
/// ('…', E'…'), quoted identifiers ("…"), dollar quotes ($$…$$, $tag$…$tag$) and
/// comments (-- …, nested /* … */) do not split. Parts holding only comments are dropped.
enum SQLScript {
    static func statements(in sql: String) -> [String] {
        var splitter = Splitter(Array(sql.unicodeScalars))
        return splitter.run()
    }

    private struct Splitter {
        let text: [Unicode.Scalar]
        var index = 0
        var start = 0
        var hasContent = false
        var statements: [String] = []

        init(_ text: [Unicode.Scalar]) { self.text = text }

        mutating func run() -> [String] {
            while index < text.count {
                let scalar = text[index]
                switch scalar {
                case "-" where peek(1) == "-":
                    skipLineComment()
                case "/" where peek(1) == "*":
                    skipBlockComment()
                case "'":
                    let escapes = index > 0 && (text[index - 1] == "E" || text[index - 1] == "e")
                        && !isIdentifier(at: index - 2)
                    hasContent = true
                    skipQuoted("'", backslashEscapes: escapes)
                case "\"":
                    hasContent = true
                    skipQuoted("\"", backslashEscapes: false)
                case "$" where !isIdentifier(at: index - 1):
                    hasContent = true
                    if let tag = dollarTag() { skipDollarQuoted(tag) } else { index += 1 }
                case ";":
                    finishStatement(endingAt: index)
                    index += 1
                    start = index
                default:
                    if !scalar.properties.isWhitespace { hasContent = true }
                    index += 1
                }
            }
            finishStatement(endingAt: text.count)
            return statements
        }

        private func peek(_ offset: Int) -> Unicode.Scalar? {
            index + offset < text.count ? text[index + offset] : nil
        }

        private func isIdentifier(at position: Int) -> Bool {
            guard position >= 0, position < text.count else { return false }
            let scalar = text[position]
            return scalar == "_" || scalar == "$" || scalar.properties.isAlphabetic
                || ("0"..."9").contains(scalar)
        }

        private mutating func finishStatement(endingAt end: Int) {
            if hasContent {
                var statement = String(String.UnicodeScalarView(text[start..<end]))
                while statement.last?.isWhitespace == true { statement.removeLast() }
                while statement.first?.isWhitespace == true { statement.removeFirst() }
                statements.append(statement)
            }
            hasContent = false
        }

        private mutating func skipLineComment() {
            while index < text.count, text[index] != "\n" { index += 1 }
        }

        private mutating func skipBlockComment() {
            var depth = 0
            repeat {
                if text[index] == "/", peek(1) == "*" {
                    depth += 1; index += 2
                } else if text[index] == "*", peek(1) == "/" {
                    depth -= 1; index += 2
                } else {
                    index += 1
                }
            } while depth > 0 && index < text.count
        }

        /// Skips '…' or "…"; a doubled quote is an escaped quote.
        private mutating func skipQuoted(_ quote: Unicode.Scalar, backslashEscapes: Bool) {
            index += 1
            while index < text.count {
                let scalar = text[index]
                if backslashEscapes && scalar == "\\" {
                    index += 2
                } else if scalar == quote {
                    if peek(1) == quote { index += 2 } else { index += 1; return }
                } else {
                    index += 1
                }
            }
        }

        /// The `$tag$` opening at `index`, or nil when this `$` is not one (e.g. `$1`).
        private func dollarTag() -> [Unicode.Scalar]? {
            var end = index + 1
            while end < text.count, text[end] != "$" {
                let scalar = text[end]
                let allowed = scalar == "_" || scalar.properties.isAlphabetic
                    || (end > index + 1 && ("0"..."9").contains(scalar))
                guard allowed else { return nil }
                end += 1
            }
            guard end < text.count else { return nil }
            return Array(text[index...end])
        }

        private mutating func skipDollarQuoted(_ tag: [Unicode.Scalar]) {
            index += tag.count
            while index < text.count {
                if text[index] == "$", index + tag.count <= text.count,
                   Array(text[index..<(index + tag.count)]) == tag {
                    index += tag.count
                    return
                }
                index += 1
            }
        }
    }
}
