import ExampleSupport

// The made-up access log the pipeline reads: deterministic from each seed, so the summary can
// be checked against a count done in one process.

extension SeededGenerator {
    /// One of `choices`, uniformly enough for made-up data.
    mutating func pick<T>(_ choices: [T]) -> T { choices[Int(next() % UInt64(choices.count))] }
}

enum LogLines {
    /// Lines one seed becomes.
    static let perSeed = 50
    static let methods = ["GET", "GET", "GET", "GET", "POST", "POST", "PUT", "DELETE"]
    static let paths = ["/", "/login", "/api/items", "/api/items/42", "/static/app.js", "/search?q=swift", "/health", "/checkout"]
    static let statuses = [200, 200, 200, 200, 200, 201, 204, 301, 304, 400, 401, 403, 404, 404, 500, 502, 503]
    /// The networks the clients come from: few enough that the region cache gets hits.
    static let networks = ["10.1", "10.2", "23.4", "31.13", "41.77", "52.95", "81.2", "95.160", "103.21", "130.89", "151.101", "185.60", "196.11", "203.0"]
    static let regions = ["eu-west", "eu-central", "us-east", "us-west", "ap-south", "ap-east", "sa-east", "af-south"]

    /// The log lines of `seed`: Common Log Format with a duration, about one in a hundred garbled.
    static func lines(seed: Int) -> [String] {
        var random = SeededGenerator(seed: UInt64(seed) &* 0x2545_F491_4F6C_DD1D &+ 1)
        return (0..<perSeed).map { index in
            if random.next() % 100 == 0 { return "### garbled line \(seed)-\(index) ###" }
            let ip = "\(random.pick(networks)).\(random.next() % 256).\(random.next() % 256)"
            let second = seed * perSeed + index
            let time = "04/Dec/2026:\(pad(second / 3600 % 24)):\(pad(second / 60 % 60)):\(pad(second % 60)) +0000"
            let status = random.pick(statuses)
            let bytes = status == 204 || status == 304 ? 0 : Int(random.next() % 50_000)
            let milliseconds = 1 + Int(random.next() % 400)
            return "\(ip) - - [\(time)] \"\(random.pick(methods)) \(random.pick(paths)) HTTP/1.1\" \(status) \(bytes) \(milliseconds)ms"
        }
    }

    /// The region of a network ("10.1"): the slow lookup the enrich stage caches.
    static func region(ofNetwork network: String) -> String {
        let hash = network.unicodeScalars.reduce(UInt64(1469598103934665603)) { ($0 ^ UInt64($1.value)) &* 1099511628211 }
        return regions[Int(hash % UInt64(regions.count))]
    }

    /// "2xx" for 204.
    static func statusClass(_ status: Int) -> String { "\(status / 100)xx" }

    private static func pad(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
}
