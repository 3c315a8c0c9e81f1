import NIOSSL

/// TLS for the connections of remote peers (a served manager and its clients), for networks
/// where the authkey's handshake is not enough: it proves that both ends hold the key, but the
/// frames after it travel in the clear. With TLS (swift-nio-ssl, BoringSSL) the server proves
/// its certificate, everything is encrypted, and the authkey's handshake runs inside, as before.
///
/// ```swift
/// // The process that serves:
/// let tls = try RemoteTLS.server(certificateChain: "/etc/mp/server.pem", privateKey: "/etc/mp/server.key")
/// let server = try await Manager().serve(on: .tcp(host: "0.0.0.0", port: 6000), authkey: key, tls: tls)
/// // A client, trusting the CA that signed the server's certificate:
/// let remote = try await Manager.connect(to: .tcp(host: "db1.example", port: 6000), authkey: key,
///                                        tls: try RemoteTLS.client(trustRoots: "/etc/mp/ca.pem"))
/// ```
///
/// A client checks the server's certificate against `trustRoots` and its names against
/// `serverName`, or else the host it connects to (a DNS name, or an IP address among the
/// certificate's IP names); a certificate that does not verify fails the connect
/// with ``ManagerError/Code/authentication``. A peer that does not speak TLS to a TLS server is
/// closed at its first bytes.
public struct RemoteTLS: Sendable {
    let context: NIOSSLContext
    /// The name a client expects in the server's certificate; nil: the host it connects to.
    let serverName: String?
    let isServer: Bool

    /// The server's side: its certificate chain (the server's first, then intermediates) and its
    /// private key, PEM files. Throws ``ManagerError/Code/invalidArgument`` naming the file that
    /// does not load.
    public static func server(certificateChain: String, privateKey: String) throws(ManagerError) -> RemoteTLS {
        let chain: [NIOSSLCertificate]
        let key: NIOSSLPrivateKey
        do { chain = try NIOSSLCertificate.fromPEMFile(certificateChain) } catch {
            throw ManagerError(.invalidArgument, "the certificate chain \(certificateChain) does not load: \(error)")
        }
        guard !chain.isEmpty else { throw ManagerError(.invalidArgument, "the certificate chain \(certificateChain) holds no certificate") }
        do { key = try NIOSSLPrivateKey(file: privateKey, format: .pem) } catch {
            throw ManagerError(.invalidArgument, "the private key \(privateKey) does not load: \(error)")
        }
        let configuration = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) },
                                                                     privateKey: .privateKey(key))
        return try RemoteTLS(configuration, serverName: nil, isServer: true)
    }

    /// A client's side: the CA certificates (a PEM file) that the server's certificate must
    /// chain to, and the name it must carry (nil: the host of the address connected to, a
    /// name or an IP address).
    public static func client(trustRoots: String, serverName: String? = nil) throws(ManagerError) -> RemoteTLS {
        var configuration = TLSConfiguration.makeClientConfiguration()
        do { configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(trustRoots)) } catch {
            throw ManagerError(.invalidArgument, "the trust roots \(trustRoots) do not load: \(error)")
        }
        configuration.certificateVerification = .fullVerification
        return try RemoteTLS(configuration, serverName: serverName, isServer: false)
    }

    private init(_ configuration: TLSConfiguration, serverName: String?, isServer: Bool) throws(ManagerError) {
        do { context = try NIOSSLContext(configuration: configuration) } catch {
            throw ManagerError(.invalidArgument, "the TLS configuration is refused: \(error)")
        }
        self.serverName = serverName
        self.isServer = isServer
    }
}
