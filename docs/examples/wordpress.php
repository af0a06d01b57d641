<?php
/**
 * notifier: post a support event from WordPress, on the server (the token never reaches a browser).
 *
 * In wp-config.php:
 *   define('NOTIFIER_URL', 'https://notifier.example.com');
 *   define('NOTIFIER_TOKEN', 'ntf_...');          // events:write, bound to this site
 *   define('NOTIFIER_HMAC_SECRET', '...');        // only if the token has an hmac_secret
 *
 * Returns notifier's answer (['id' => ..., 'duplicate' => false, 'deliveries' => [...]]), or null.
 */
function notifier_send_event(array $event) {
    $body = wp_json_encode($event);
    $headers = array(
        'Content-Type'  => 'application/json',
        'Authorization' => 'Bearer ' . NOTIFIER_TOKEN,
    );
    if (defined('NOTIFIER_HMAC_SECRET') && NOTIFIER_HMAC_SECRET !== '') {
        $timestamp = (string) time();
        $headers['X-Notifier-Timestamp'] = $timestamp;
        $headers['X-Notifier-Signature'] = 'v1=' . hash_hmac('sha256', $timestamp . '.' . $body, NOTIFIER_HMAC_SECRET);
    }
    $response = wp_remote_post(rtrim(NOTIFIER_URL, '/') . '/v1/events', array(
        'headers' => $headers,
        'body'    => $body,  // a JSON string: an array would be sent form-encoded, and refused (415)
        'timeout' => 5,
    ));
    if (is_wp_error($response)) {
        error_log('notifier: ' . $response->get_error_message());
        return null;
    }
    $code = wp_remote_retrieve_response_code($response);
    if ($code !== 202) {
        error_log('notifier: HTTP ' . $code . ': ' . wp_remote_retrieve_body($response));
        return null;
    }
    return json_decode(wp_remote_retrieve_body($response), true);
}
