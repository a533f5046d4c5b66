/// Where a Redis server is: `redis://[[user]:password@]host[:port][/db]`.
public struct RedisURL: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var user: String?
    public var password: String?
    public var database: Int

    public init(host: String, port: Int = 6379, user: String? = nil, password: String? = nil, database: Int = 0) {
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.database = database
    }

    public init(_ text: String) throws {
        guard text.hasPrefix("redis://") else { throw RedisError.invalidURL("\(text): must start with redis://") }
        var rest = Substring(text.dropFirst("redis://".count))
        var database = 0
        if let slash = rest.firstIndex(of: "/") {
            let db = rest[rest.index(after: slash)...]
            if !db.isEmpty {
                guard let n = Int(db), n >= 0 else { throw RedisError.invalidURL("\(text): the database must be a number") }
                database = n
            }
            rest = rest[..<slash]
        }
        var user: String?
        var password: String?
        if let at = rest.lastIndex(of: "@") {
            let credentials = rest[..<at]
            rest = rest[rest.index(after: at)...]
            if let colon = credentials.firstIndex(of: ":") {
                let u = credentials[..<colon]
                user = u.isEmpty ? nil : String(u)
                password = String(credentials[credentials.index(after: colon)...])
            } else {
                password = String(credentials)
            }
        }
        var host = String(rest)
        var port = 6379
        if let colon = rest.lastIndex(of: ":") {
            guard let p = Int(rest[rest.index(after: colon)...]), (1...65_535).contains(p) else {
                throw RedisError.invalidURL("\(text): the port must be between 1 and 65535")
            }
            port = p
            host = String(rest[..<colon])
        }
        guard !host.isEmpty, !host.contains(where: { $0 == " " || $0 == "/" }) else { throw RedisError.invalidURL("\(text): no host") }
        self.init(host: host, port: port, user: user, password: password, database: database)
    }

    /// The URL without its password, for logs and status pages.
    public var description: String {
        let credentials = password == nil ? "" : "\(user ?? ""):***@"
        return "redis://\(credentials)\(host):\(port)" + (database == 0 ? "" : "/\(database)")
    }
}
