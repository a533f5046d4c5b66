#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Large blocks of memory for the write buffer, backed by huge pages where the system offers
/// them (Linux's transparent huge pages, asked for with `madvise`).
///
/// A buffered fold touches millions of rows at random (sorting them) in a gigabyte or more; with
/// 4 KiB pages nearly every touch also misses the TLB, which in a virtual machine costs about as
/// much as the cache miss itself. 2 MiB pages make those misses rare, and make first touches
/// fault once per 2 MiB instead of once per 4 KiB.
enum LargeMemory {
    /// Rounds sizes to whole huge pages.
    static let granule = 2 << 20

    static func rounded(_ bytes: Int) -> Int {
        (max(bytes, 1) + granule - 1) / granule * granule
    }

    /// `bytes` (rounded up to `rounded(bytes)`) of zeroed memory, or nil when the system has none.
    static func allocate(_ bytes: Int) -> UnsafeMutableRawPointer? {
        let size = rounded(bytes)
        #if os(Linux)
        guard let p = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), p != MAP_FAILED else { return nil }
        _ = madvise(p, size, MADV_HUGEPAGE)
        return p
        #else
        guard let p = calloc(1, size) else { return nil }
        return p
        #endif
    }

    /// Returns memory `allocate` gave, with the size it was asked for.
    static func release(_ p: UnsafeMutableRawPointer, _ bytes: Int) {
        #if os(Linux)
        munmap(p, rounded(bytes))
        #else
        free(p)
        #endif
    }
}
