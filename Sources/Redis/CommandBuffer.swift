/// Commands for a pipeline, encoded one after another in one buffer as Redis's request format
/// (an array of bulk strings per command, what hiredis's `redisFormatCommandArgv` makes), so a
/// batch of thousands goes to hiredis in one call instead of one argument vector per command.
/// Replies are still read and parsed by hiredis (`RedisConnection.reply()`).
public struct CommandBuffer {
    public private(set) var bytes: [UInt8] = []
    /// Commands encoded so far.
    public private(set) var count = 0
    private var argumentsLeft = 0

    public init(capacity: Int = 0) { bytes.reserveCapacity(capacity) }

    /// Starts a command of `arguments` arguments (its name included); add exactly that many.
    public mutating func begin(arguments: Int) {
        precondition(argumentsLeft == 0, "the previous command lacks \(argumentsLeft) arguments")
        bytes.append(UInt8(ascii: "*"))
        appendDecimal(UInt64(arguments))
        bytes.append(contentsOf: [13, 10])
        argumentsLeft = arguments
        count += 1
    }

    public mutating func add(_ argument: some Collection<UInt8>) {
        precondition(argumentsLeft > 0, "more arguments than begin(arguments:) said")
        argumentsLeft -= 1
        bytes.append(UInt8(ascii: "$"))
        appendDecimal(UInt64(argument.count))
        bytes.append(contentsOf: [13, 10])
        bytes.append(contentsOf: argument)
        bytes.append(contentsOf: [13, 10])
    }

    public mutating func add(_ argument: String) {
        var argument = argument
        argument.withUTF8 { add($0) }
    }

    public mutating func add(decimal value: UInt64) {
        var digits: [UInt8] = []
        var v = value
        repeat {
            digits.append(UInt8(ascii: "0") + UInt8(v % 10))
            v /= 10
        } while v > 0
        add(digits.reversed())
    }

    public var isComplete: Bool { argumentsLeft == 0 }

    private mutating func appendDecimal(_ value: UInt64) {
        if value < 10 {
            bytes.append(UInt8(ascii: "0") + UInt8(value))
            return
        }
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var n = 0
        var v = value
        withUnsafeMutableBytes(of: &digits) { d in
            while v > 0 {
                d[n] = UInt8(ascii: "0") + UInt8(v % 10)
                v /= 10
                n += 1
            }
            for i in stride(from: n - 1, through: 0, by: -1) { bytes.append(d[i]) }
        }
    }
}
