# A net/http client over TLS: one GET, then, by the first argument,
#   close    finishes the connection itself
#   at_exit  finishes it in an at_exit block (the program's own code)
#   leave    leaves it in a global for Ruby's exit-time finalizers to close
require "net/http"
require "openssl"

how, port = ARGV[0], ARGV[1].to_i
$http = Net::HTTP.new("127.0.0.1", port)
$http.use_ssl = true
$http.verify_mode = OpenSSL::SSL::VERIFY_NONE
$http.start
puts $http.get("/").body
$http.finish if how == "close"
at_exit { $http.finish } if how == "at_exit"
