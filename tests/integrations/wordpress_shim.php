<?php
// The few WordPress HTTP functions the example uses, over PHP's own HTTP stream wrapper, so
// the example runs under php-cli as it runs in WordPress. Signatures and return shapes follow
// the WordPress reference (developer.wordpress.org/reference/functions/wp_remote_post/,
// wp_remote_retrieve_response_code/, wp_remote_retrieve_body/, wp_json_encode/).

class WP_Error {
    private $message;
    public function __construct($code = '', $message = '') { $this->message = $message; }
    public function get_error_message() { return $this->message; }
}

function is_wp_error($thing) { return $thing instanceof WP_Error; }

function wp_json_encode($data, $options = 0, $depth = 512) { return json_encode($data, $options, $depth); }

function wp_remote_post($url, $args = array()) {
    $headers = '';
    foreach (isset($args['headers']) ? $args['headers'] : array() as $name => $value) {
        $headers .= $name . ': ' . $value . "\r\n";
    }
    $body = isset($args['body']) ? $args['body'] : '';
    if (is_array($body)) {  // what WordPress does with an array body: a form
        $body = http_build_query($body);
        $headers .= "Content-Type: application/x-www-form-urlencoded\r\n";
    }
    $context = stream_context_create(array('http' => array(
        'method' => 'POST', 'header' => $headers, 'content' => $body,
        'timeout' => isset($args['timeout']) ? $args['timeout'] : 5, 'ignore_errors' => true,
    )));
    $answer = @file_get_contents($url, false, $context);
    if ($answer === false) {
        return new WP_Error('http_request_failed', 'could not reach ' . $url);
    }
    preg_match('{^HTTP/\S+ (\d{3})}', $http_response_header[0], $status);
    return array('response' => array('code' => (int) $status[1]), 'body' => $answer);
}

function wp_remote_retrieve_response_code($response) {
    return is_wp_error($response) ? '' : $response['response']['code'];
}

function wp_remote_retrieve_body($response) {
    return is_wp_error($response) ? '' : $response['body'];
}
