#include "tests/support/pki.h"

#include <fstream>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tests/support/process.h"

namespace trellis::testing {
namespace {

absl::Status RunOpenssl(const std::string& dir, std::vector<std::string> args) {
  args.insert(args.begin(), "/usr/bin/openssl");
  std::string out = absl::StrCat(dir, "/openssl.out");
  std::string err = absl::StrCat(dir, "/openssl.err");
  auto p = Process::Spawn(args, out, err);
  if (!p.ok()) return p.status();
  auto code = (*p)->Wait(absl::Seconds(30));
  if (!code.ok()) return code.status();
  if (*code != 0) {
    return absl::InternalError(absl::StrCat("openssl ", args[1], " failed: ", ReadFile(err)));
  }
  return absl::OkStatus();
}

CertFiles FilesOf(const std::string& dir, const std::string& name) {
  return {absl::StrCat(dir, "/", name, ".pem"), absl::StrCat(dir, "/", name, ".key")};
}

}  // namespace

absl::StatusOr<CertFiles> MakeCa(const std::string& dir, const std::string& name) {
  CertFiles ca = FilesOf(dir, name);
  absl::Status made =
      RunOpenssl(dir, {"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                       "-nodes", "-keyout", ca.key, "-out", ca.cert, "-days", "2", "-subj",
                       absl::StrCat("/CN=", name), "-addext", "basicConstraints=critical,CA:TRUE",
                       "-addext", "keyUsage=critical,keyCertSign,cRLSign"});
  if (!made.ok()) return made;
  return ca;
}

absl::StatusOr<CertFiles> IssueCert(const std::string& dir, const CertFiles& ca,
                                    const std::string& name, const std::string& sans) {
  CertFiles leaf = FilesOf(dir, name);
  std::string csr = absl::StrCat(dir, "/", name, ".csr");
  std::string ext = absl::StrCat(dir, "/", name, ".ext");
  std::ofstream(ext) << "basicConstraints=CA:FALSE\n"
                     << "keyUsage=critical,digitalSignature,keyEncipherment\n"
                     << "extendedKeyUsage=serverAuth,clientAuth\n"
                     << "subjectAltName=" << sans << "\n";
  absl::Status made = RunOpenssl(
      dir, {"req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", leaf.key, "-out", csr, "-subj", absl::StrCat("/CN=", name)});
  if (!made.ok()) return made;
  // No serial named: OpenSSL 3 picks a random one.
  made = RunOpenssl(dir, {"x509", "-req", "-in", csr, "-CA", ca.cert, "-CAkey", ca.key, "-days",
                          "2", "-extfile", ext, "-out", leaf.cert});
  if (!made.ok()) return made;
  return leaf;
}

}  // namespace trellis::testing
