/// Bad input data, located exactly: file, line, field.
struct InputError: Error, CustomStringConvertible {
    var code: String
    var file: String
    var line: Int
    var field: String?
    var detail: String

    var description: String {
        if let field { return "\(file):\(line): field \"\(field)\": \(detail)" }
        return "\(file):\(line): \(detail)"
    }
}
