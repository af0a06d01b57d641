<?php
// Where your chatbot hands a visitor over to a human (e.g. in its send_support_email handler):
$answer = notifier_send_event(array(
    'kind'            => 'contact_request',
    'site'            => 'shop.example.com',
    'conversation_id' => $conversation_id,
    'message'         => $message,
    'user'            => array('name' => $name, 'email' => $email, 'consent' => true),
    'page'            => array('url' => $page_url),
    'locale'          => 'fr',
));
