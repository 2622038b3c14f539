// Env values at rest: crypto_secretbox (XSalsa20-Poly1305) with a random nonce per value. Keys stay in
// plain text: they are names (DATABASE_URL), and reading them back in order needs no key.
#include <sodium.h>

#include "store/store_internal.h"

namespace bim {
namespace store_internal {

namespace {
const unsigned char* U(const std::string& s) { return reinterpret_cast<const unsigned char*>(s.data()); }
unsigned char* U(std::string* s) { return reinterpret_cast<unsigned char*>(s->data()); }
}  // namespace

void SealValue(const std::string& key, const std::string& value, std::string* nonce, std::string* ciphertext) {
  nonce->assign(crypto_secretbox_NONCEBYTES, '\0');
  randombytes_buf(U(nonce), nonce->size());
  ciphertext->assign(crypto_secretbox_MACBYTES + value.size(), '\0');
  crypto_secretbox_easy(U(ciphertext), U(value), value.size(), U(*nonce), U(key));
}

Status OpenValue(const std::string& key, const std::string& nonce, const std::string& ciphertext,
                 std::string* value) {
  if (nonce.size() == crypto_secretbox_NONCEBYTES && ciphertext.size() >= crypto_secretbox_MACBYTES) {
    value->assign(ciphertext.size() - crypto_secretbox_MACBYTES, '\0');
    if (crypto_secretbox_open_easy(U(value), U(ciphertext), ciphertext.size(), U(nonce), U(key)) == 0)
      return Status::OK();
  }
  value->clear();
  return Status::Internal("cannot decrypt stored env (wrong secret key file?)");
}

Status InsertEnv(Stmt* insert, const std::string& secret_key, const EnvList& env) {
  std::string nonce, ciphertext;
  for (size_t i = 0; i < env.size(); ++i) {
    SealValue(secret_key, env[i].value, &nonce, &ciphertext);
    insert->Bind(2, env[i].key).BindBlob(3, nonce).BindBlob(4, ciphertext).Bind(5, static_cast<int64_t>(i));
    if (Status s = insert->Run(); !s.ok()) return s;
    insert->Reset();
  }
  return Status::OK();
}

Status ReadEnv(Stmt* select, const std::string& secret_key, EnvList* out) {
  out->clear();
  bool row;
  Status s;
  while ((s = select->Step(&row)).ok() && row) {
    EnvVar v;
    v.key = select->Text(0);
    if (!(s = OpenValue(secret_key, select->Text(1), select->Text(2), &v.value)).ok()) break;
    out->push_back(std::move(v));
  }
  if (!s.ok()) {
    for (EnvVar& v : *out) sodium_memzero(v.value.data(), v.value.size());
    out->clear();
  }
  return s;
}

}  // namespace store_internal
}  // namespace bim
