// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "swift-multiprocessing",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "Multiprocessing", targets: ["Multiprocessing"]),
        .library(name: "MessagePack", targets: ["MessagePack"]),
        .executable(name: "mpctl", targets: ["mpctl"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", exact: "1.8.2"),
    ],
    targets: [
        // Debian's libmsgpack-dev, linked statically (module.modulemap names libmsgpackc.a):
        // no pkgConfig here, or SwiftPM puts the shared -lmsgpackc first (NOTES-linux.md).
        .systemLibrary(
            name: "CMsgPack",
            providers: [.apt(["libmsgpack-dev"])]
        ),
        // What Glibc hides and the weak libFuzzer driver declaration.
        .target(name: "CShims"),
        .target(
            name: "MessagePack",
            dependencies: ["CMsgPack"]
        ),
        .target(
            name: "Multiprocessing",
            dependencies: ["MessagePack", "CShims"]
        ),
        .executableTarget(
            name: "mpctl",
            dependencies: [
                "Multiprocessing",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // libFuzzer target over the frame reader and the decoders (Fuzz/README.md).
        .executableTarget(
            name: "MessagePackFuzz",
            dependencies: ["MessagePack", "CMsgPack", "CShims"],
            path: "Fuzz/MessagePackFuzz"
        ),
        .executableTarget(
            name: "CodecTour",
            dependencies: ["MessagePack", "Multiprocessing"],
            path: "Examples/CodecTour"
        ),
        .executableTarget(
            name: "MPBenchmarks",
            dependencies: ["MessagePack", "Multiprocessing"],
            path: "Benchmarks/Swift"
        ),
        .testTarget(
            name: "MessagePackTests",
            dependencies: ["MessagePack", "CMsgPack"]
        ),
        .testTarget(
            name: "MultiprocessingTests",
            dependencies: ["Multiprocessing", "MessagePack"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
